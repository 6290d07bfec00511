package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// dashboardFile is the Grafana dashboard shipped for lockd.
var dashboardFile = filepath.Join("..", "deploy", "grafana", "lockd.json")

// grafanaMacros are the Grafana variables a dashboard expression may use,
// replaced by a duration before parsing.
var grafanaMacros = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m")

// promQLFunctions are the functions the dashboard may call: Prometheus
// functions and aggregations (the parser also knows MetricsQL
// extensions, which Prometheus would refuse).
var promQLFunctions = map[string]bool{
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "changes": true, "resets": true,
	"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "abs": true, "time": true,
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "topk": true, "bottomk": true,
}

// dashboardExprs returns every query expression of the dashboard's panels
// (rows' nested panels included), by panel title.
func dashboardExprs(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Panels  []json.RawMessage
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string][]string{}
	var walk func(raws []json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, raw := range raws {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%s: panel: %v", dashboardFile, err)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("panel %q has a query without an expression", p.Title)
				}
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
		}
	}
	walk(dash.Panels)
	return out
}

// exprMetrics parses a PromQL expression and returns the metric names it
// reads, or why it is not a valid Prometheus query.
func exprMetrics(expr string) ([]string, error) {
	q := grafanaMacros.Replace(expr)
	if strings.Contains(q, "$") {
		return nil, fmt.Errorf("unknown Grafana variable in %q", expr)
	}
	e, err := metricsql.Parse(q)
	if err != nil {
		return nil, err
	}
	if metricsql.IsLikelyInvalid(e) {
		return nil, fmt.Errorf("%q applies a range function to an instant expression", expr)
	}
	var names []string
	var bad error
	metricsql.VisitAll(e, func(n metricsql.Expr) {
		switch n := n.(type) {
		case *metricsql.FuncExpr:
			if !promQLFunctions[n.Name] {
				bad = fmt.Errorf("%q calls %s, not a Prometheus function this check knows", expr, n.Name)
			}
			if metricsql.IsRollupFunc(n.Name) {
				if re, ok := n.Args[metricsql.GetRollupArgIdx(n)].(*metricsql.RollupExpr); !ok || re.Window == nil {
					bad = fmt.Errorf("%q calls %s without a range", expr, n.Name)
				}
			}
		case *metricsql.AggrFuncExpr:
			if !promQLFunctions[n.Name] {
				bad = fmt.Errorf("%q aggregates with %s, not a Prometheus aggregation this check knows", expr, n.Name)
			}
		case *metricsql.MetricExpr:
			for _, group := range n.LabelFilterss {
				if len(group) == 0 || group[0].Label != "__name__" || group[0].IsRegexp {
					bad = fmt.Errorf("%q selects series without a plain metric name", expr)
					continue
				}
				names = append(names, group[0].Value)
			}
		}
	})
	return names, bad
}

// exportedNames is every series name reg exports, with a histogram's
// _bucket, _sum and _count.
func exportedNames(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[mf.GetName()+s] = true
			}
		}
	}
	return out
}

// Every expression of the Grafana dashboard parses as a Prometheus query
// and reads only metrics a running lockd node exports (gathered from its
// live registry, not listed by hand).
func TestGrafanaDashboardUsesOnlyMetricsLockdExports(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	regc := make(chan *prometheus.Registry, 1)
	c := newSvcCluster(t, 1, func(cfg *Config) {
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		regc <- reg
	})
	c.leader()
	exported := exportedNames(t, <-regc)

	// Negative controls: the checks catch a bad query and an unknown name.
	if _, err := exprMetrics("sum(rate(lockd_requests_total[5m])"); err == nil {
		t.Fatal("an unbalanced query parsed")
	}
	if _, err := exprMetrics("rate(lockd_requests_total)"); err == nil {
		t.Fatal("rate without a range passed")
	}
	if names, err := exprMetrics(`sum by (method) (rate(lockd_no_such_total{code!="0"}[$__rate_interval]))`); err != nil || len(names) != 1 || exported[names[0]] {
		t.Fatalf("unknown metric not caught: %v %v", names, err)
	}

	exprs := dashboardExprs(t, data)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d panels with queries", len(exprs))
	}
	used := map[string]bool{}
	titles := make([]string, 0, len(exprs))
	for title := range exprs {
		titles = append(titles, title)
	}
	sort.Strings(titles)
	for _, title := range titles {
		for _, e := range exprs[title] {
			names, err := exprMetrics(e)
			if err != nil {
				t.Errorf("panel %q: %v", title, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("panel %q: %q reads no metric", title, e)
			}
			for _, n := range names {
				used[n] = true
				if !exported[n] {
					t.Errorf("panel %q: %q reads %s, which lockd does not export", title, e, n)
				}
			}
		}
	}
	// The dashboard covers what operators look at first.
	for _, n := range []string{"lockd_requests_total", "lockd_request_duration_seconds_bucket", "lockd_commit_duration_seconds_bucket",
		"lockd_wal_fsync_duration_seconds_bucket", "lockd_leader_changes_total", "lockd_snapshot_size_bytes_sum",
		"lockd_snapshot_duration_seconds_bucket", "lockd_locks", "lockd_sessions", "lockd_lock_queue_length_bucket"} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}
