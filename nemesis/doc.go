// Package nemesis tests lockd the way Jepsen tested etcd, Consul and
// ZooKeeper: real lockd processes (and, where Docker is present, a compose
// cluster of containers) under injected faults while clients of the Go SDK
// take, hold and release locks and run elections, and every recorded
// history is checked afterwards.
//
// It owns: the history recorder (History, Op: call and return times on the
// monotonic clock, outcome ok/held/fenced/failed/unknown); the sequential
// model of one lock (LockModel, checked per lock with porcupine; an
// unknown outcome may take effect at any moment after its call); the
// protected resource (Resource: a counter that accepts an access only with
// a fencing token at least as high as the highest it has seen) and the
// fencing, token-order and at-most-once checkers; the process harness
// (Cluster: build, start, kill -9, restart, SIGSTOP/SIGCONT, membership
// changes; by default with mutual TLS from a CA it makes in the run's
// directory, its clients acting as the root principal), the peer proxy
// that cuts links per direction (Network, Proxy; in a secured cluster it
// learns the sender from its certificate, taking part in the TLS with
// the nodes' own certificates: ProxyTLS), the seeded fault schedule
// (Nemesis) and the recorded workloads
// (Recorder, LockWorker, Campaigner, Observer, Reader, PausedClient).
//
// It must never: import server, consensus or any lockd package other than
// client, internal/pki (the certificates of its secured clusters) and two
// test helpers, internal/faults (to cut a client off) and
// internal/freeport (ports for the processes): it sees the cluster only
// as a client and as an operating system would; leave a process, a proxy
// listener or a container behind a test; wait without a bound; choose a
// fault but from its seed.
//
// Fault episodes (each followed by a heal and a quiet gap):
//
//	fault          inject                              heal
//	kill           SIGKILL the leader (or a random     restart it on its data
//	               node)                               directory
//	pause-short    SIGSTOP a node for longer than the  SIGCONT
//	               election timeout
//	pause-long     SIGSTOP a node for longer than a     SIGCONT
//	               session TTL
//	partition      cut every link between the leader   restore the links
//	               (or a random minority) and the rest
//	one-way        cut one direction of one link        restore it
//	member         remove a follower, wipe it, re-add   (the re-add is the heal)
//	               it as a learner with --join, promote
//	client-pause   freeze a lock-holding client and     resume; it writes with
//	               cut it off past its session TTL      its stale token
package nemesis
