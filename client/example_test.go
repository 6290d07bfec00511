package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/freeport"
	"github.com/lockd/lockd/server"
)

// startCluster starts a three-node lockd cluster in this process, on
// loopback ports with temporary data, and returns its client endpoints.
func startCluster() (endpoints []string, stop func()) {
	var addrs []string
	for len(addrs) < 6 {
		a, err := freeport.Addr()
		if err != nil {
			panic(err)
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	initial := map[string]string{"n1": addrs[0], "n2": addrs[2], "n3": addrs[4]}
	var servers []*server.Server
	var dirs []string
	for i, id := range []string{"n1", "n2", "n3"} {
		dir, err := os.MkdirTemp("", "lockd-example-")
		if err != nil {
			panic(err)
		}
		dirs = append(dirs, dir)
		cfg := server.DefaultConfig()
		cfg.ID, cfg.DataDir = id, dir
		cfg.PeerAddr, cfg.ClientAddr = addrs[2*i], addrs[2*i+1]
		cfg.InitialCluster = initial
		s, err := server.New(cfg)
		if err != nil {
			panic(err)
		}
		if err := s.Start(); err != nil {
			panic(err)
		}
		servers = append(servers, s)
		endpoints = append(endpoints, s.ClientAddr())
	}
	return endpoints, func() {
		for _, s := range servers {
			_ = s.Close()
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
}

func Example() {
	endpoints, stop := startCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Any one endpoint is enough: followers name the leader.
	c, err := client.New(client.Config{Endpoints: endpoints[:1]})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	s, err := c.NewSession(ctx, client.WithTTL(10*time.Second))
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	l, err := s.Acquire(ctx, "jobs/nightly") // waits in the FIFO queue
	if err != nil {
		panic(err)
	}
	fmt.Println("acquired, fencing token > 0:", l.Token() > 0)

	other, err := c.NewSession(ctx)
	if err != nil {
		panic(err)
	}
	_, err = other.TryAcquire(ctx, "jobs/nightly")
	fmt.Println("second session:", errors.Is(err, client.ErrLockHeld))

	ok, _ := c.CheckToken(ctx, "jobs/nightly", l.Token())
	fmt.Println("token current:", ok)
	if err := l.Release(ctx); err != nil {
		panic(err)
	}
	<-l.Lost() // closed by the release
	ok, _ = c.CheckToken(ctx, "jobs/nightly", l.Token())
	fmt.Println("token current after release:", ok)
	// Output:
	// acquired, fencing token > 0: true
	// second session: true
	// token current: true
	// token current after release: false
}

func ExampleElection() {
	endpoints, stop := startCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	s, err := c.NewSession(ctx)
	if err != nil {
		panic(err)
	}
	e := s.Election("billing-leader")
	if err := e.Campaign(ctx, []byte("10.0.0.7:8080")); err != nil {
		panic(err)
	}
	li, err := e.Leader(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("leader %s, mine: %v\n", li.Value, li.Session == s.ID())

	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	changes := e.Observe(octx) // starts with the current leader
	fmt.Printf("observed %s\n", (<-changes).Value)
	if err := e.Proclaim(ctx, []byte("10.0.0.8:8080")); err != nil {
		panic(err)
	}
	fmt.Printf("observed %s\n", (<-changes).Value)
	if err := e.Resign(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("observed a leader: %v\n", (<-changes).Session != 0)
	// Output:
	// leader 10.0.0.7:8080, mine: true
	// observed 10.0.0.7:8080
	// observed 10.0.0.8:8080
	// observed a leader: false
}

func ExampleSession_WaitState() {
	endpoints, stop := startCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	s, err := c.NewSession(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", s.State())
	go func() { _ = s.Close(ctx) }()
	// An application watches its session without draining any channel.
	st, err := s.WaitState(ctx, client.SessionSafe)
	fmt.Println("state:", st, err)
	// Output:
	// state: safe
	// state: closed <nil>
}
