// Command lockctl is the shell's way into a lockd cluster: it shows the
// cluster's state (status, members, sessions, locks), operates it
// (membership, leader transfer, backups), holds a lock while a command
// runs, takes part in or watches an election, measures throughput,
// creates the CA and the certificates of nodes and clients (`cert`, which
// needs no cluster), and checks and restores backup files offline
// (`snapshot inspect`, `snapshot restore`, which need no cluster either).
// docs/LOCKCTL.md is its reference: commands, JSON schema, exit codes.
//
// It owns: the command line (urfave/cli/v2), the mapping of errors to exit
// codes (exitcode.go, by errors.Is on the client's sentinels only), the
// table and JSON renderings, the supervision of `lock`'s command, and
// the TLS options (tls.go: all of --cacert, --cert and --key or none,
// loaded by client.LoadTLS).
// It must never: import a lockd package other than client, internal/pki
// (for `cert`) and server (for the backup file format and the offline
// restore only; it talks to a cluster through client alone); compare
// error strings; print anything but
// the command's own output on stdout while `lock` runs; leave `lock`'s
// command running after the lock is lost.
//
// Exit codes: 0 ok, 1 error, 2 bad usage, 3 lock held, 4 lock lost,
// 5 no quorum or cluster unreachable, 6 not found, 7 gave up waiting (the
// session ended before the lock or leadership was granted), 8 certificate
// or TLS problem (--cacert, --cert, --key); `lock` passes its
// command's code on (128+signal if a signal killed it, 126/127 if it
// could not be started), and a lockctl interrupted while waiting for a
// lock exits 128+signal.
//
// `lock NAME -- CMD` as a state machine:
//
//	state     event                          next      effect
//	waiting   granted                        running   start CMD with LOCKD_* env
//	waiting   ErrLockHeld (--try) / --wait   exit 3    close session
//	waiting   session expired or closed      exit 7    (nothing held: not a loss)
//	waiting   SIGINT/SIGTERM/SIGHUP          exit 128+s cancel the wait (no grant left)
//	running   CMD exits, lock still held     exit code release, close session
//	running   CMD exits, Lost already closed exit 4    close session
//	running   SIGINT/SIGTERM/SIGHUP          running   forward to CMD (its group)
//	running   session in jeopardy            draining  SIGTERM to CMD; SIGKILL due halfway to
//	                                                   the earliest grant, or at --grace if sooner
//	running   Lock.Lost closes               draining  SIGTERM to CMD; SIGKILL due at --grace
//	draining  SIGKILL due                    draining  SIGKILL to CMD
//	draining  CMD exits                      exit 4    close session
//
// Without a terminal on stdin CMD runs in a process group of its own and
// signals go to the whole group; with one, CMD shares lockctl's group (so
// it can use the terminal) and signals go to CMD's process.
package main
