// Package syncbuf holds Buffer, a bytes.Buffer that one goroutine (a
// logger, a child process's pipes) writes while another reads it: the
// tests of several packages capture logs and output with it.
//
// It never blocks a writer for longer than a copy, and keeps no state
// beyond the buffer.
package syncbuf
