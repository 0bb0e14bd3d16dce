package service

import (
	"fmt"
	"html"
	"strings"
)

// BootUnitName is the systemd user unit `tsm startup install` writes
// (in $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user).
const BootUnitName = "tsm.service"

// BootAgentLabel is the launchd label of the LaunchAgent it writes on macOS
// (~/Library/LaunchAgents/<label>.plist).
const BootAgentLabel = "com.tetra.tsm"

// BootArgs is what the boot unit runs after the binary: the daemon in the
// foreground, which brings back every process that was online, then one
// startup pass over the enabled services.
var BootArgs = []string{"startup", "run"}

// SystemdUnit renders the systemd user unit for binary exe (an absolute
// path) serving state directory root.
//
// KillMode=process: stopping the unit stops the daemon only; services run
// in their own sessions and outlive it, as they outlive a `tsm daemon stop`.
// Delegate=yes hands the unit's cgroup subtree to the daemon, which puts
// each service in a cgroup of its own below it; without it systemd treats
// those cgroups as its own and may move or remove them.
// Restart=on-failure brings back a daemon that crashed; a daemon that finds
// another one serving root exits 0 and is left alone.
func SystemdUnit(exe, root string) string {
	args := []string{systemdQuote(exe)}
	for _, a := range BootArgs {
		args = append(args, systemdQuote(a))
	}
	return fmt.Sprintf(`# Written by `+"`tsm startup install`"+`; `+"`tsm startup uninstall`"+` removes it.
[Unit]
Description=tsm process manager (state in %s)

[Service]
Type=simple
Environment=%s
ExecStart=%s
KillMode=process
Delegate=yes
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
`, systemdEscape(root), systemdQuote("TSM_DIR="+root), strings.Join(args, " "))
}

// systemdEscape doubles %, which systemd reads as a specifier.
func systemdEscape(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// systemdQuote quotes a word for ExecStart= or Environment=: bare when
// plain, else double-quoted with \ and " escaped.
func systemdQuote(s string) string {
	s = systemdEscape(s)
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\;$") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// LaunchdPlist renders the LaunchAgent for binary exe serving root, with
// the daemon's output appended to logPath. AbandonProcessGroup keeps
// launchd from ending the services when the daemon exits.
func LaunchdPlist(exe, root, logPath string) string {
	var b strings.Builder
	// html's escaper (& < > ' ") is XML's too; encoding/xml would cost
	// every tsm command its package initialisation.
	str := func(s string) string { return "<string>" + html.EscapeString(s) + "</string>" }
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by tsm startup install; tsm startup uninstall removes it. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	` + str(BootAgentLabel) + `
	<key>ProgramArguments</key>
	<array>
		` + str(exe) + "\n")
	for _, a := range BootArgs {
		b.WriteString("\t\t" + str(a) + "\n")
	}
	b.WriteString(`	</array>
	<key>EnvironmentVariables</key>
	<dict>
		<key>TSM_DIR</key>
		` + str(root) + `
	</dict>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>AbandonProcessGroup</key>
	<true/>
	<key>ProcessType</key>
	<string>Background</string>
	<key>StandardOutPath</key>
	` + str(logPath) + `
	<key>StandardErrorPath</key>
	` + str(logPath) + `
</dict>
</plist>
`)
	return b.String()
}
