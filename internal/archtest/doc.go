// Package archtest holds tests of the module's structure rather than of
// its behaviour. It has no code of its own.
//
// Its test keeps the import list in docs/ARCHITECTURE.md honest: it parses
// the list (the fenced block of "package -> import, import" lines) and
// compares it with the non-test imports that `go list` reports for every
// package of the module, restricted to lockd's own packages. When they
// differ it fails with the differences and the block as it should read.
//
// It must never import a lockd package: it looks at the module only from
// outside, through the go command.
package archtest
