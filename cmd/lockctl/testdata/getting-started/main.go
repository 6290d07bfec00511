// Command getting-started takes a lock and runs an election against a
// lockd cluster (docs/GETTING-STARTED.md).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/lockd/lockd/client"
)

func main() {
	endpoints := cmp.Or(os.Getenv("LOCKD_ENDPOINTS"), "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
	cfg := client.Config{Endpoints: strings.Split(endpoints, ",")}
	// A cluster with mutual TLS (lockd --dev is one) wants the cluster's
	// CA certificate and a client certificate with its key: the files
	// that lockd --dev's export line names.
	if ca := os.Getenv("LOCKD_CACERT"); ca != "" {
		tlsCfg, err := client.LoadTLS(ca, os.Getenv("LOCKD_CERT"), os.Getenv("LOCKD_KEY"))
		if err != nil {
			log.Fatal(err)
		}
		cfg.TLS = tlsCfg
	}
	c, err := client.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A session is a lease the client keeps alive; its locks go with it.
	s, err := c.NewSession(ctx, client.WithTTL(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(context.Background())

	// 1. A lock. Acquire waits in the lock's FIFO queue.
	l, err := s.Acquire(ctx, "jobs/nightly")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("holding %s with fencing token %d\n", l.Name(), l.Token())

	// Do the work under the lock's context: it is cancelled as soon as
	// the lock may no longer be held (the session lost touch with the
	// cluster), before anyone else can be granted the lock. Hand the token
	// to every service you write to, so they can reject a holder whose
	// time has passed.
	work := l.Context()
	ok, err := c.CheckToken(work, "jobs/nightly", l.Token())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token is current:", ok)

	if err := l.Release(ctx); err != nil {
		log.Fatal(err)
	}
	ok, err = c.CheckToken(ctx, "jobs/nightly", l.Token())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after release, token is current:", ok)

	// 2. An election: the leader holds a lock whose value says who it is.
	e := s.Election("billing-leader")
	if err := e.Campaign(ctx, []byte("10.0.0.7:8080")); err != nil {
		log.Fatal(err)
	}
	leader, err := e.Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader of %s is %s (session %d)\n", e.Name(), leader.Value, leader.Session)

	if err := e.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := e.Leader(ctx); err != nil {
		fmt.Println("after resigning:", err)
	}
}
