// Command lockd runs one lockd node, or, with --dev, a ready three-node
// cluster inside one process on loopback ports with temporary data.
//
// With --cacert, --cert and --key every port speaks mutual TLS 1.3 (the
// HTTP port with --http-tls); without them lockd listens only on loopback
// unless --insecure is given. --dev makes a throwaway CA and runs with
// mutual TLS.
//
// It owns the process: flags (each also read from a LOCKD_* environment
// variable), their validation before anything starts, the logger, the
// Prometheus registry, the HTTP listener for /livez, /readyz, /metrics and
// the status page (handler in package server), and the reaction to signals
// and to removal from the cluster. It never decides anything about the
// cluster itself: it never proposes a membership change (a node never
// leaves implicitly), never touches the data directory except through
// server.New (it only looks whether the directory is empty), and never
// reads the clock for the protocol.
//
// Process lifecycle of one node:
//
//	state     event                    next      effect
//	parsing   bad flag or env value    exit 2    message on stderr, nothing started
//	parsing   empty data directory     exit 2    neither --initial-cluster nor --join: nothing
//	          without either flag                created, message says how to found one node
//	parsing   no certificates and a    exit 2    InsecureListenError: says to give --cacert,
//	          non-loopback address               --cert and --key, or --insecure
//	          without --insecure
//	parsing   flags valid              starting  logger, registry, certificates loaded (one
//	                                             that is not this node's: exit 2), HTTP listener
//	starting  data directory records   exit 2    close what was opened; message says how to
//	          another cluster                    grow the cluster or start afresh
//	starting  server.New/Start fails   exit 1    close what was opened (a taken port fails
//	                                             before the data directory is written)
//	starting  started                  serving   log addresses, serve HTTP
//	serving   SIGTERM / SIGINT         stopping  Shutdown(timeout): a leader first
//	                                             hands leadership to a caught-up
//	                                             follower that answers (none: it
//	                                             says why and goes on at once),
//	                                             then stops and syncs
//	serving   SIGHUP, or the files     serving   reload the certificates; a failed reload
//	          changed (polled)                   keeps the current ones and logs why
//	serving   Removed() closes         stopping  log it, Close
//	serving   Live() fails (polled)    exit 1    log it, Close
//	serving   a log write pending      serving   /livez 503 with the reason; a warning logged
//	          half --wal-stall-timeout
//	serving   FailStopped() closes, or exit 74   log the reason; no Close (the log may never
//	          Live() is ErrFailStop              answer): the supervisor restarts the node
//	stopping  node closed cleanly      exit 0    (a failed hand-off is only logged)
//	stopping  closing the node failed  exit 1
//	stopping  second SIGTERM / SIGINT  killed    default signal action
//
// Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags, 74 fail-stop
// on a stalled or failed disk (EX_IOERR).
package main
