package main

import (
	"context"
	"os"
)

func main() {
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stdout)}
	os.Exit(run(context.Background(), e, os.Args))
}
