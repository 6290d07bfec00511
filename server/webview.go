package server

import (
	"context"
	"embed"
	"net/http"
	"time"
)

// ClusterViewer is what the cluster page reads of a node. *Server
// implements it; a NodeHealth without it gets the node page at / as well.
type ClusterViewer interface {
	ClusterView(ctx context.Context) (ClusterView, error)
}

var _ ClusterViewer = (*Server)(nil)

// webFiles are the cluster page and its script and style, served by the
// binary itself (no external resources).
//
//go:embed web/index.html web/app.js web/style.css
var webFiles embed.FS

// webCSP allows the page only its own script, style and /cluster: no
// inline script, no other origin.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// clusterViewTimeout bounds one /cluster request (the cluster status asks
// every member).
const clusterViewTimeout = 3 * time.Second

// routeClusterView adds /, /cluster and /web/ to mux.
func (h *httpHandler) routeClusterView(mux *http.ServeMux, cv ClusterViewer) {
	h.view = cv
	mux.HandleFunc("GET /{$}", h.webFile("web/index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /web/app.js", h.webFile("web/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /web/style.css", h.webFile("web/style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /cluster", h.cluster)
}

func (h *httpHandler) webFile(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		b, err := webFiles.ReadFile(name)
		if err != nil { // embedded at build time: cannot happen
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Security-Policy", webCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		if _, err := w.Write(b); err != nil {
			h.logger.Debug("write web file", "name", name, "error", err)
		}
	}
}

func (h *httpHandler) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), clusterViewTimeout)
	defer cancel()
	v, err := h.view.ClusterView(ctx)
	if err != nil {
		h.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.writeJSON(w, http.StatusOK, v)
}
