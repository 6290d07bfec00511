package main

import (
	"io"

	"github.com/urfave/cli/v2"
)

// bashCompletion completes lockctl's commands and flags by asking lockctl
// itself (urfave/cli's --generate-bash-completion).
const bashCompletion = `# lockctl bash completion: source <(lockctl completion bash)
_lockctl_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _lockctl_complete lockctl
`

// zshCompletion does the same for zsh.
const zshCompletion = `#compdef lockctl
# lockctl zsh completion: source <(lockctl completion zsh)
_lockctl() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ "$(basename -- ${(%):-%x})" != "_lockctl" ]]; then
  compdef _lockctl lockctl
fi
`

func (l *lockctl) completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: "bash: source <(lockctl completion bash)\n" +
			"zsh:  source <(lockctl completion zsh)",
		Action: func(c *cli.Context) error {
			if err := exactArgs(c, "SHELL"); err != nil {
				return err
			}
			switch c.Args().First() {
			case "bash":
				_, err := io.WriteString(l.stdout, bashCompletion)
				return err
			case "zsh":
				_, err := io.WriteString(l.stdout, zshCompletion)
				return err
			}
			return usagef("completion: unknown shell %q (bash or zsh)", c.Args().First())
		},
	}
}
