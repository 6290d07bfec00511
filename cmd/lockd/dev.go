package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/server"
)

const (
	devNodes = 3
	// devReadyTimeout bounds the wait for the dev cluster to elect a leader
	// and catch up.
	devReadyTimeout = 30 * time.Second
	// devPollInterval is how often the dev cluster's readiness is checked.
	devPollInterval = 20 * time.Millisecond
)

// devAddrs are the fixed addresses --dev prefers, per node.
type devAddrs struct{ client, peer, http string }

func preferredDevAddrs(i int) devAddrs {
	return devAddrs{
		client: fmt.Sprintf("127.0.0.1:%d", 7001+i),
		peer:   fmt.Sprintf("127.0.0.1:%d", 7101+i),
		http:   fmt.Sprintf("127.0.0.1:%d", 7201+i),
	}
}

// reserveAddrs returns one address per preferred address: the preferred
// one if it can be bound now, otherwise a free loopback port chosen by the
// kernel. All are held open until every one is chosen, so they are distinct.
func reserveAddrs(preferred []string) ([]string, error) {
	lns := make([]net.Listener, 0, len(preferred))
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	out := make([]string, 0, len(preferred))
	for _, p := range preferred {
		ln, err := net.Listen("tcp", p)
		if err != nil {
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return nil, fmt.Errorf("reserve a loopback port: %w", err)
			}
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// devNode is one member of the dev cluster.
type devNode struct {
	id    string
	addrs devAddrs
	srv   *server.Server
	web   *httpEndpoint
}

// runDev runs a three-node cluster in this process with temporary data
// until ctx is done, printing the endpoints to out once it is ready.
func runDev(ctx context.Context, onSignal func(), o options, logger hclog.Logger, out io.Writer) error {
	var preferred []string
	for i := range devNodes {
		a := preferredDevAddrs(i)
		preferred = append(preferred, a.client, a.peer, a.http)
	}
	got, err := reserveAddrs(preferred)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "lockd-dev-")
	if err != nil {
		return fmt.Errorf("temporary data directory: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(root); err != nil {
			logger.Warn("could not remove the dev data", "dir", root, "error", err)
		}
	}()

	nodes := make([]*devNode, devNodes)
	cluster := make(map[string]string, devNodes)
	ids := make([]string, devNodes)
	for i := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		nodes[i] = &devNode{id: id, addrs: devAddrs{client: got[3*i], peer: got[3*i+1], http: got[3*i+2]}}
		cluster[id] = nodes[i].addrs.peer
		ids[i] = id
	}
	certs, err := makeDevCerts(filepath.Join(root, "certs"), ids)
	if err != nil {
		return err
	}
	defer stopDev(nodes, logger)
	for _, n := range nodes {
		if err := n.start(o, cluster, filepath.Join(root, n.id), certs.node[n.id], logger); err != nil {
			return err
		}
	}

	leader, err := waitDevReady(ctx, nodes)
	if err != nil {
		if ctx.Err() != nil {
			onSignal()
			return nil
		}
		return err
	}
	printDev(out, nodes, leader, root, certs.client)
	logger.Info("dev cluster ready", "leader", leader, "data_dir", root)

	<-ctx.Done()
	onSignal()
	logger.Info("signal received; stopping the dev cluster and removing its data", "dir", root)
	return nil
}

func (n *devNode) start(o options, cluster map[string]string, dir string, files pki.Files, logger hclog.Logger) error {
	o.ID, o.DataDir, o.PeerAddr, o.ClientAddr, o.HTTPAddr = n.id, dir, n.addrs.peer, n.addrs.client, n.addrs.http
	o.CACert, o.Cert, o.Key = files.CA, files.Cert, files.Key
	l := logger.Named(n.id)
	reg := newRegistry()
	cfg, err := serverConfig(o, cluster, l, reg)
	if err != nil {
		return err
	}
	certs, err := loadNodeTLS(o)
	if err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	cfg.TLS = serverTLS(certs)
	ln, err := net.Listen("tcp", n.addrs.http)
	if err != nil {
		return fmt.Errorf("%s: http listener: %w", n.id, err)
	}
	srv, err := server.New(cfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("%s: open node: %w", n.id, err)
	}
	if err := srv.Start(); err != nil {
		_ = ln.Close()
		return errors.Join(fmt.Errorf("%s: start node: %w", n.id, err), srv.Close())
	}
	n.srv = srv
	n.addrs.client, n.addrs.peer = srv.ClientAddr(), srv.PeerAddr()
	n.web = serveHTTP(ln, server.NewHTTPHandler(srv, reg, l.Named("http")), l)
	return nil
}

// waitDevReady polls until every node is ready and returns the leader.
func waitDevReady(ctx context.Context, nodes []*devNode) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	defer cancel()
	tick := time.NewTicker(devPollInterval)
	defer tick.Stop()
	reason := "not checked yet"
	for {
		ready := true
		for _, n := range nodes {
			if ok, why := n.srv.Ready(); !ok {
				ready, reason = false, n.id+": "+why
				break
			}
		}
		if ready {
			st, err := nodes[0].srv.Status(ctx)
			if err == nil && st.Leader != "" {
				return st.Leader, nil
			}
			reason = fmt.Sprintf("no leader in n1's status (%v)", err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("dev cluster not ready after %s: %s", devReadyTimeout, reason)
		case <-tick.C:
		}
	}
}

// stopDev closes every started node at once. The whole cluster goes away,
// so there is nobody to hand leadership to.
func stopDev(nodes []*devNode, logger hclog.Logger) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == nil || n.srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.web.stop()
			if err := n.srv.Close(); err != nil {
				logger.Warn("close", "id", n.id, "error", err)
			}
		}()
	}
	wg.Wait()
}

// printDev prints the endpoints, ending with the lines a shell can eval
// to point lockctl at the cluster as principal root.
func printDev(out io.Writer, nodes []*devNode, leader, root string, client pki.Files) {
	fmt.Fprintf(out, "lockd dev cluster ready: %d nodes, leader %s, mutual TLS, data in %s (removed on exit)\n",
		len(nodes), leader, root)
	clients := make([]string, len(nodes))
	for i, n := range nodes {
		fmt.Fprintf(out, "  %s  client %s  peer %s  http http://%s/\n", n.id, n.addrs.client, n.addrs.peer, n.addrs.http)
		clients[i] = n.addrs.client
	}
	fmt.Fprintf(out, "export LOCKD_ENDPOINTS=%s\n", strings.Join(clients, ","))
	fmt.Fprintf(out, "export LOCKD_CACERT=%s LOCKD_CERT=%s LOCKD_KEY=%s\n",
		shellQuote(client.CA), shellQuote(client.Cert), shellQuote(client.Key))
}

// shellQuote leaves a path of safe characters as it is and puts anything
// else in single quotes, so that the export line can be eval'ed.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:+=,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
