// Package client is lockd's Go SDK: sessions, locks with fencing tokens,
// leader elections, and the reads and operations lockctl needs.
//
//	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:7001"}})
//	s, err := c.NewSession(ctx, client.WithTTL(10*time.Second))
//	l, err := s.Acquire(ctx, "jobs/nightly") // waits in the FIFO queue
//	defer l.Release(ctx)
//	select { case <-l.Lost(): ...stop working... }
//
// It owns: finding the leader from any endpoint (following NotLeader
// hints, reconnecting with jittered exponential backoff); the sequence
// numbers of session writes (a retry after a lost answer, a timeout or a
// leader change reuses its number, and the server answers it with the
// original answer instead of applying it twice); one keep-alive loop per
// Client; the local lease and the session state it implies; routing the
// server's pushes (grants, losses, expiry, leader and holder changes).
//
// It must never: import a lockd package but api, rpc, internal/pki (to
// load and explain certificates) and internal/faults (the fault injector
// this module's tests attach with faults.AttachClient, which no exported
// name reaches); block the rpc push goroutine (pushes are
// handed to session state under short locks); hand the application a
// channel that must be drained for the SDK to make progress (state changes
// are read with State/WaitState, Observe keeps only the latest value);
// leave a goroutine running after Close; leave a grant behind an Acquire
// that its context cancelled; read global state (no package-level logger,
// random source or clock).
//
// # Errors
//
// Server errors map back to the api sentinels, re-exported here
// (ErrLockHeld, ErrSessionExpired, ErrNotLeader, ErrNoQuorum, ...); match
// them with errors.Is. ErrFenced is ErrNotHolder: a Release or Proclaim
// with a token that is no longer current.
//
// A round of connection attempts that finds no usable endpoint fails with
// an *UnreachableError: one EndpointError per address tried, each saying
// what is wrong (refused, an HTTP port, not a lockd port, an unspecified
// address); it matches ErrNoEndpoint. Calls retry such rounds until their
// deadline, riding out a node's restart; with Config.FailFast (command-line
// tools) a call gives up after a few rounds in a row in which every
// endpoint failed permanently (EndpointError.Permanent). A round in which
// every endpoint failed on TLS (see TLS below) ends the call at once.
//
// # TLS
//
// A cluster with TLS (mutual TLS 1.3) serves only clients with a
// certificate of its CA that names a client principal
// (lockd://client/NAME; `lockctl cert create-client NAME` makes one).
// Give Config.TLS the configuration LoadTLS builds from the CA
// certificate, the client certificate and its key:
//
//	tlsCfg, err := client.LoadTLS("certs/ca.crt", "certs/client-alice.crt", "certs/client-alice.key")
//	c, err := client.New(client.Config{Endpoints: eps, TLS: tlsCfg})
//
// Every connection checks the server's certificate against the host of
// the address it dials (Config.TLS.ServerName is not used), a leader hint
// or a member's advertised address as much as a configured endpoint: a
// hint to a server without a certificate of the cluster's CA for that
// host is refused like any failed endpoint, and the Client goes on to the
// others. A refused certificate, or TLS on one side only, is a *TLSError
// (ErrTLS) that says whose certificate was refused (TLSError.Party:
// TLSServer, TLSClient, TLSMismatch) and why (expired, another CA, not
// for this host, none sent, not a client certificate). When every
// endpoint fails so, a call fails at once instead of retrying: only a
// change of certificates or configuration can help.
//
// # Session states
//
// The lease is counted from when the keep-alive that confirmed it was
// sent. Jeopardy starts at JeopardyAfter (3/4) of it, before the earliest
// moment the leader could expire the session (sent + TTL/1.01, for clock
// rates within MaxClockRateDifference): see docs/ARCHITECTURE.md, "The
// holder stops first".
//
//	state     event                                  next      effect
//	safe      keep-alive confirmed                   safe      lease = sent + TTL
//	safe      3/4 of the lease passed                jeopardy  every Lock.Context cancelled; grace = lease end + Grace
//	jeopardy  keep-alive confirmed                   safe      lease = sent + TTL
//	jeopardy  grace ran out                          expired   Done, every Lock.Lost closed
//	safe|jep  keep-alive lists it expired            expired   Done, every Lock.Lost closed
//	safe|jep  SessionExpired pushed                  expired   Done, every Lock.Lost closed
//	safe|jep  a write answers unknown/expired        expired   Done, every Lock.Lost closed
//	safe|jep  Session.Close / Client.Close           closed    Done, every Lock.Lost closed
//
// A keep-alive that fails is retried with backoff, never later than the
// next interval (a third of the TTL). While in jeopardy, locks are not yet
// reported lost (Lost stays open), but their Context has ended: the
// application must stop work that needs them. A Lock's Context stays
// cancelled if the session becomes safe again.
//
// # The connection
//
// One connection per Client, kept pointed at the leader:
//
//	state    event                                 next     effect
//	none     a call or the background reconnect    dialing  hint first, then endpoints in turn
//	dialing  connected, sessions attached          current  waiting Acquires and observers re-check
//	dialing  NotLeader with a hint                 dialing  the hint is tried next
//	dialing  every endpoint failed                 none     *UnreachableError; callers back off
//	dialing  every endpoint failed on TLS          none     *UnreachableError of TLSErrors; calls fail
//	current  NotLeader answer                      none     closed; hint recorded
//	current  broken, or an attempt timed out       none     closed
//	current  LeaderChanged pushed                  none     retired: closed after AttemptTimeout
//
// Each connection attempt gets DialTimeout for its dial and AttemptTimeout
// for attaching the sessions; while sessions are open, the whole attempt,
// dial and attach together, takes at most the shortest TTL divided by the
// number of endpoints (at least 100 ms), so one endpoint that does not
// answer, or answers the dial and not the attach, cannot use up a lease.
//
// Config's transport fields tune the connection itself: MaxFrameSize
// bounds a message either way (4 MiB, the servers' default), the Client
// pings the server every PingInterval (5 s), and a connection on which
// nothing arrives for ReadTimeout (30 s) counts as broken. A broken
// connection (rpc.ErrConnLost) is replaced and the requests on it retried.
//
// Reads are linearizable unless WithStale; any node answers them. Writes
// and keep-alives go to the leader; followers answer NotLeader.
//
// # Acquire
//
//	step                   event                           effect
//	send Acquire (Wait)    Granted                         Lock
//	send Acquire (Wait)    Queued                          wait
//	wait                   Granted pushed                  Lock
//	wait                   new connection (re-attached)    GetLock: holder? Lock
//	wait                   ctx ends                        CancelWait; NotWaiting → GetLock, Release
//	wait                   session ends                    its error
//	send (any)             ctx ends, outcome unknown       as ctx ends while waiting
package client
