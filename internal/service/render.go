package service

import (
	"fmt"
	"strings"
)

// Assignment is one KEY=value line of a definition to write.
type Assignment struct{ Key, Value string }

// Render writes a definition file: a header naming origin, the TSM_*
// fields (empty values left out), then `export` lines for env. Every value
// is quoted so that Parse, and bash, read back exactly that value.
func Render(origin string, fields, env []Assignment) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/usr/bin/env bash\n# tsm service definition, %s.\n# Parsed by tsm, never executed: KEY=\"value\" and export KEY=\"value\" lines only.\n", strings.ReplaceAll(origin, "\n", " "))
	for _, f := range fields {
		if f.Value != "" {
			fmt.Fprintf(&b, "%s=%s\n", f.Key, quote(f.Value))
		}
	}
	for _, e := range env {
		fmt.Fprintf(&b, "export %s=%s\n", e.Key, quote(e.Value))
	}
	return []byte(b.String())
}

// quote quotes s for a definition: double quotes when nothing in it is
// special there, else single quotes (a ' inside is written as a closing
// quote, a backslash-escaped quote and an opening quote).
func quote(s string) string {
	if !strings.ContainsAny(s, "$`\"\\!\n") {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Pairs builds assignments from key, value, key, value, ...
func Pairs(kv ...string) []Assignment {
	out := make([]Assignment, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Assignment{kv[i], kv[i+1]})
	}
	return out
}

// quoteExpand double-quotes s, keeping $VAR for expansion when the file
// is read (as the bash TSM's built files did with $HOME): only \, " and `
// are escaped.
func quoteExpand(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`").Replace(s) + `"`
}
