package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// chromiumBinary finds a headless-capable Chromium: $LOCKD_CHROMIUM, or
// chromium (Debian's package), chromium-browser, google-chrome on PATH.
func chromiumBinary() (string, bool) {
	if p := os.Getenv("LOCKD_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// chromiumTimeout bounds one browser run.
const chromiumTimeout = 90 * time.Second

// runChromium loads url headless, lets its script run for budget of
// virtual time (the page polls; fetches pause virtual time until they
// answer), and returns the DOM after it ran. With shot set it takes a
// screenshot instead and returns chromium's output.
func runChromium(t *testing.T, bin, url, shot string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds())}
	if shot != "" {
		args = append(args, "--window-size=1400,1800", "--screenshot="+shot)
	} else {
		args = append(args, "--dump-dom")
	}
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", bin, err, errb.String())
	}
	return out.String()
}

// injectedMarkup reports markup in dom that came from a client's lock
// name or value: an element the page never makes itself.
var injectedMarkup = regexp.MustCompile(`<b id="injected"|<img src="?x|<script>document`)

// The cluster page, loaded from a follower in headless Chromium after its
// script ran, shows the members with their roles, the locks with
// holders, tokens, values and waiters in queue order, the lock-delay, the
// sessions and recent events; a hostile lock name and value show as text
// and inject nothing. A screenshot is kept in the test's artifact
// directory.
func TestClusterPageInHeadlessChromiumShowsTheCluster(t *testing.T) {
	bin, ok := chromiumBinary()
	if !ok {
		t.Skip("no chromium binary found (apt-get install chromium, or set LOCKD_CHROMIUM): the cluster page is not tested in a browser")
	}
	// Negative control: the injection check finds injected markup.
	if !injectedMarkup.MatchString(`<td><b id="injected">value</b></td>`) {
		t.Fatal("injectedMarkup misses an injected element")
	}
	c := newHTTPCluster(t)
	sc := populateView(t, c.svcCluster)
	f := c.follower()
	web := c.web[f.ID()]
	svcWait(t, "the follower to apply the scene", 20*time.Second, func() bool {
		_, v, _ := fetchView(t, web)
		d, ok := lockOf(v, "delayed")
		return ok && d.Delayed
	})

	dom := runChromium(t, bin, web.URL+"/", "", 5*time.Second)
	if !strings.Contains(dom, `data-loaded="true"`) {
		t.Fatalf("the page did not render the cluster view:\n%s", dom)
	}
	if m := injectedMarkup.FindString(dom); m != "" || strings.Contains(dom, "<title>pwned") {
		t.Fatalf("a lock name or value injected markup (%q):\n%s", m, dom)
	}
	wants := []string{
		"seen from " + f.ID(), ">leader<", ">follower<", `class="ok">ok<`,
		"jobs/nightly", fmt.Sprintf("session %d · exclusive · token %d · \"host-a:4242\"", sc.holder, sc.token),
		"config", "· shared ·",
		// The hostile name and value, as text.
		`x&lt;img src=x onerror="document.title='pwned'"&gt;&lt;script&gt;`, `&lt;b id=\"injected\"&gt;value&lt;/b&gt;`,
		"left</td>", // the lock-delay
		"3 open: 3 holding", "4 locks, 3 held, 3 waiting requests",
		"session_expired", "session_opened", "leader_changed",
	}
	for _, w := range wants {
		if !strings.Contains(dom, w) {
			t.Errorf("the rendered page lacks %q", w)
		}
	}
	// Waiters in queue order within the jobs/nightly row.
	row := dom[strings.Index(dom, `lock-name">jobs/nightly<`):]
	row = row[:strings.Index(row, "</tr>")]
	i1, i2 := strings.Index(row, fmt.Sprintf("session %d · exclusive · waiting", sc.w1)), strings.Index(row, fmt.Sprintf("session %d · exclusive · waiting", sc.w2))
	if i1 < 0 || i2 < 0 || i1 > i2 {
		t.Errorf("jobs/nightly waiters not shown in queue order %d then %d:\n%s", sc.w1, sc.w2, row)
	}
	if t.Failed() {
		t.Logf("rendered DOM:\n%s", dom)
	}

	shot := filepath.Join(t.ArtifactDir(), "cluster-page.png")
	runChromium(t, bin, web.URL+"/", shot, 5*time.Second)
	st, err := os.Stat(shot)
	if err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot of the cluster page: %s (%d bytes)", shot, st.Size())
}

// ownedView is a node whose view has sessions with owners, as a cluster
// that records who opened each session reports them.
type ownedView struct{ staticHealth }

func (ownedView) ClusterView(context.Context) (ClusterView, error) {
	var s SessionsView
	s.List = []SessionView{}
	for i, o := range []string{"alice", "alice", "<i>bob</i>"} {
		s.add(SessionView{ID: uint64(i + 1), Owner: o, Held: []string{}, Waiting: []string{}})
	}
	return ClusterView{Node: "n9", Members: []MemberView{}, Sessions: s, Locks: []LockView{}, Events: []EventView{}}, nil
}

// When sessions carry owners the page shows an owner column and a count
// per owner (as text); without owners neither appears (the first test).
// The page refreshes itself by polling /cluster.
func TestClusterPageInHeadlessChromiumShowsOwners(t *testing.T) {
	bin, ok := chromiumBinary()
	if !ok {
		t.Skip("no chromium binary found (apt-get install chromium, or set LOCKD_CHROMIUM): the cluster page is not tested in a browser")
	}
	h := NewHTTPHandler(ownedView{staticHealth{ready: true}}, prometheus.NewRegistry(), nil)
	var polls atomic.Int64
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cluster" {
			polls.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer web.Close()
	dom := runChromium(t, bin, web.URL+"/", "", 7*time.Second)
	// The page polls every 2 s: 7 s of its (virtual) time is 4 polls.
	if n := polls.Load(); n < 3 {
		t.Errorf("the page fetched /cluster %d times in 7 s, want it refreshed every 2 s", n)
	}
	for _, w := range []string{`<table id="owners"><thead>`, "<td>alice</td><td>2</td>", "<td>&lt;i&gt;bob&lt;/i&gt;</td><td>1</td>",
		`<th class="owner-col">owner</th>`, "<td>1</td><td>alice</td>"} {
		if !strings.Contains(dom, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	if strings.Contains(dom, "<i>bob</i>") {
		t.Error("an owner injected markup")
	}
	if t.Failed() {
		t.Logf("rendered DOM:\n%s", dom)
	}
}
