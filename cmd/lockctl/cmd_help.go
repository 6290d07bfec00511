package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// helpCommand replaces urfave/cli's own: `help COMMAND [SUBCOMMAND...]`
// shows the same help as `COMMAND [SUBCOMMAND...] --help`, with the
// subcommands of a command that has them, and names an unknown command
// (with a did-you-mean) as bad usage.
func (l *lockctl) helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show help for lockctl, or for a command and its subcommands",
		ArgsUsage: "[COMMAND [SUBCOMMAND...]]",
		Action: func(c *cli.Context) error {
			path := c.Args().Slice()
			cmds := c.App.Commands
			for i, name := range path {
				cmd := findCommand(cmds, name)
				if cmd == nil {
					return usagef("help: unknown command %q%s (see 'lockctl help')",
						strings.Join(path[:i+1], " "), didYouMean(name, commandNames(cmds)))
				}
				cmds = cmd.Subcommands
			}
			// A fresh run of the same tree prints exactly what --help does.
			args := append(append([]string{c.App.Name}, path...), "--help")
			return l.app().RunContext(c.Context, args)
		},
	}
}
