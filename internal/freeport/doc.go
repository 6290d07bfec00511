// Package freeport picks loopback addresses for tests that start lockd
// processes, which must be told their ports before they bind them.
//
// Binding 127.0.0.1:0 and closing the listener, the usual trick, hands out
// a port from the kernel's ephemeral range, and the kernel hands the same
// port to the next socket that binds :0 or connects out; with other test
// packages running in parallel, a lockd started a moment later then fails
// with "address already in use". Addr picks from below the ephemeral range
// instead, which nothing else in a test run takes by itself.
package freeport
