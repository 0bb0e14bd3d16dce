package cli

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A flag that takes no value must not look as if it took one in --help:
// pflag shows the first `quoted` word of a usage as the value's name, so
// "same as `list all`" printed "--all list all".
func TestHelpBoolFlagsTakeNoValue(t *testing.T) {
	app, _, _ := fakeDaemon(t)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); f.Value.Type() == "bool" && name != "" {
				t.Errorf("%s --help shows --%s as taking a value %q (a `quoted` word in its usage)", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(app.newRootCmd())
}
