package server

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lockd/lockd/api"
)

// NodeHealth is what the HTTP endpoints read from a node. *Server
// implements it.
type NodeHealth interface {
	// ID is the node's name.
	ID() string
	// Live is nil while the process can make progress (its log is writable).
	Live() error
	// Ready reports whether a leader is known and this node has applied
	// close to the commit index, and if not, why.
	Ready() (ok bool, reason string)
	// Status is the node's view of the cluster.
	Status(ctx context.Context) (api.NodeStatus, error)
}

var _ NodeHealth = (*Server)(nil)

// httpStatusTimeout bounds one Status call made for an HTTP request.
const httpStatusTimeout = 2 * time.Second

// NewHTTPHandler serves a node's operations endpoints:
//
//	GET /livez    200 {"live":true}, or 503 {"live":false,"reason":...}
//	GET /readyz   200 {"ready":true}, or 503 {"ready":false,"reason":...}
//	GET /metrics  the Prometheus metrics gathered from g
//	GET /status   the node's api.NodeStatus as JSON, snake_case keys
//	              (statusJSON)
//	GET /node     a small HTML page of this node's Raft state
//	GET /         the cluster page (webview.go), if n is a ClusterViewer;
//	              else the node page
//	GET /cluster  the ClusterView as JSON (ClusterViewer only)
//	GET /web/...  the cluster page's script and style
//
// Other paths get 404 and other methods 405. A nil logger discards logs.
func NewHTTPHandler(n NodeHealth, g prometheus.Gatherer, logger hclog.Logger) http.Handler {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	h := &httpHandler{node: n, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", h.livez)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /status", h.status)
	mux.HandleFunc("GET /node", h.page)
	if cv, ok := n.(ClusterViewer); ok {
		h.routeClusterView(mux, cv)
	} else {
		mux.HandleFunc("GET /{$}", h.page)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

type httpHandler struct {
	node   NodeHealth
	view   ClusterViewer // nil: no cluster page
	logger hclog.Logger
}

// probe is the body of /livez and /readyz.
type probe struct {
	Live   *bool  `json:"live,omitempty"`
	Ready  *bool  `json:"ready,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (h *httpHandler) livez(w http.ResponseWriter, _ *http.Request) {
	ok := true
	var p probe
	if err := h.node.Live(); err != nil {
		ok, p.Reason = false, err.Error()
	}
	p.Live = &ok
	h.writeJSON(w, codeFor(ok), p)
}

func (h *httpHandler) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, reason := h.node.Ready()
	p := probe{Ready: &ok}
	if !ok {
		p.Reason = reason
	}
	h.writeJSON(w, codeFor(ok), p)
}

func (h *httpHandler) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), httpStatusTimeout)
	defer cancel()
	st, err := h.node.Status(ctx)
	if err != nil {
		h.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	h.writeJSON(w, http.StatusOK, statusJSONOf(st))
}

// statusJSON is the body of /status: api.NodeStatus with snake_case keys,
// as lockctl's JSON has them. api.NodeStatus itself stays untagged (it is
// also a wire message).
type statusJSON struct {
	ID         string         `json:"id"`
	ClusterID  string         `json:"cluster_id"`
	Role       string         `json:"role"`
	Term       uint64         `json:"term"`
	Leader     string         `json:"leader"`
	LeaderAddr string         `json:"leader_addr"`
	Commit     uint64         `json:"commit"`
	Applied    uint64         `json:"applied"`
	Progress   []progressJSON `json:"progress"`
}

// progressJSON is one api.MemberProgress in statusJSON.
type progressJSON struct {
	ID      string `json:"id"`
	Match   uint64 `json:"match"`
	Next    uint64 `json:"next"`
	State   string `json:"state"`
	Learner bool   `json:"learner"`
}

func statusJSONOf(st api.NodeStatus) statusJSON {
	out := statusJSON{ID: st.ID, ClusterID: st.ClusterID, Role: st.Role, Term: st.Term, Leader: st.Leader, LeaderAddr: st.LeaderAddr,
		Commit: st.Commit, Applied: st.Applied, Progress: []progressJSON{}}
	for _, p := range st.Progress {
		out.Progress = append(out.Progress, progressJSON{ID: p.ID, Match: p.Match, Next: p.Next, State: p.State, Learner: p.Learner})
	}
	return out
}

func codeFor(ok bool) int {
	if ok {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

func (h *httpHandler) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.logger.Debug("write http response", "error", err)
	}
}

// pageData is what the status page shows.
type pageData struct {
	ID          string
	Live        string // empty when live
	Ready       bool
	Reason      string
	StatusError string
	Status      api.NodeStatus
	Lag         uint64
	Progress    []progressRow
}

type progressRow struct {
	api.MemberProgress
	Behind uint64 // entries the member's match is behind the leader's commit
}

func (h *httpHandler) page(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), httpStatusTimeout)
	defer cancel()
	d := pageData{ID: h.node.ID()}
	if err := h.node.Live(); err != nil {
		d.Live = err.Error()
	}
	d.Ready, d.Reason = h.node.Ready()
	st, err := h.node.Status(ctx)
	code := http.StatusOK
	if err != nil {
		d.StatusError, code = err.Error(), http.StatusServiceUnavailable
	} else {
		d.Status = st
		if st.Commit > st.Applied {
			d.Lag = st.Commit - st.Applied
		}
		for _, p := range st.Progress {
			row := progressRow{MemberProgress: p}
			if st.Commit > p.Match {
				row.Behind = st.Commit - p.Match
			}
			d.Progress = append(d.Progress, row)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := statusPage.Execute(w, d); err != nil {
		h.logger.Debug("render status page", "error", err)
	}
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>lockd {{.ID}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}
th{background:#f3f3f3}
.ok{color:#17692b}.bad{color:#a11}
</style></head><body>
<h1>lockd node {{.ID}}</h1>
{{if .Live}}<p class="bad">not live: {{.Live}}</p>{{end}}
{{if .Ready}}<p class="ok">ready</p>{{else}}<p class="bad">not ready: {{.Reason}}</p>{{end}}
{{if .StatusError}}<p class="bad">status unavailable: {{.StatusError}}</p>{{else}}{{with .Status}}
<table>
<tr><th>cluster</th><td>{{if .ClusterID}}{{.ClusterID}}{{else}}unknown{{end}}</td></tr>
<tr><th>role</th><td>{{.Role}}</td></tr>
<tr><th>term</th><td>{{.Term}}</td></tr>
<tr><th>leader</th><td>{{if .Leader}}{{.Leader}}{{if .LeaderAddr}} ({{.LeaderAddr}}){{end}}{{else}}none known{{end}}</td></tr>
<tr><th>commit index</th><td>{{.Commit}}</td></tr>
<tr><th>applied index</th><td>{{.Applied}} (lag {{$.Lag}})</td></tr>
</table>{{end}}
{{if .Progress}}<h2>Members</h2>
<table><tr><th>id</th><th>kind</th><th>match</th><th>next</th><th>state</th><th>behind commit</th></tr>
{{range .Progress}}<tr><td>{{.ID}}</td><td>{{if .Learner}}learner{{else}}voter{{end}}</td><td>{{.Match}}</td><td>{{.Next}}</td><td>{{.State}}</td><td>{{.Behind}}</td></tr>
{{end}}</table>{{else}}<p>Member progress is shown on the leader{{with .Status.Leader}} ({{.}}){{end}}.</p>{{end}}
{{end}}
<p><a href="/">cluster</a> · <a href="/metrics">metrics</a> · <a href="/readyz">readyz</a> · <a href="/livez">livez</a> · <a href="/status">status JSON</a></p>
</body></html>
`))
