package client

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/lockd/lockd/rpc"
)

// EndpointError is why one address could not be used in a round of
// connection attempts.
type EndpointError struct {
	Addr string
	Err  error
}

func (e EndpointError) Error() string {
	return e.Addr + ": " + describeEndpointErr(e.Addr, e.Err)
}

func (e EndpointError) Unwrap() error { return e.Err }

// Permanent reports whether the failure lasts until someone changes
// something: nothing listens at the address (connection refused), its
// host does not resolve or it is malformed, what answers is not a lockd
// client port (an HTTP port, a peer port, another protocol), or TLS
// failed (a *TLSError: a certificate refused, TLS on one side only). A
// node restarting also refuses connections for a moment, so a service
// keeps retrying on these too; only a FailFast Client gives up on them.
func (e EndpointError) Permanent() bool {
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	switch {
	case errors.Is(e.Err, syscall.ECONNREFUSED),
		errors.As(e.Err, &dnsErr) && dnsErr.IsNotFound,
		errors.As(e.Err, &addrErr),
		errors.Is(e.Err, rpc.ErrBadMagic),
		errors.Is(e.Err, rpc.ErrHTTPPort), // a TLS dial reports it alone
		errors.Is(e.Err, rpc.ErrBadKind),
		errors.Is(e.Err, rpc.ErrVersionMismatch),
		errors.Is(e.Err, ErrTLS):
		return true
	}
	return false
}

// UnreachableError is the error of a round of connection attempts that
// found no usable endpoint: one EndpointError for each address tried, in
// order (leader hints included). It matches ErrNoEndpoint, and each cause
// through errors.Is and errors.As.
type UnreachableError struct {
	Endpoints []EndpointError
}

func (e *UnreachableError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoEndpoint.Error())
	for i, ep := range e.Endpoints {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(ep.Error())
	}
	return b.String()
}

// Is makes the error match ErrNoEndpoint.
func (e *UnreachableError) Is(target error) bool { return target == ErrNoEndpoint }

// Unwrap returns the causes, one for each address tried.
func (e *UnreachableError) Unwrap() []error {
	out := make([]error, len(e.Endpoints))
	for i, ep := range e.Endpoints {
		out[i] = ep.Err
	}
	return out
}

// Permanent reports whether every configured endpoint failed permanently
// (EndpointError.Permanent). A leader hint that failed does not count:
// the endpoint that gave it answered.
func (e *UnreachableError) Permanent(endpoints []string) bool {
	failed := map[string]bool{}
	for _, ep := range e.Endpoints {
		if !ep.Permanent() {
			return false
		}
		failed[ep.Addr] = true
	}
	for _, addr := range endpoints {
		if !failed[addr] {
			return false
		}
	}
	return len(endpoints) > 0
}

// TLSOnly reports whether every configured endpoint failed with a
// *TLSError: then retrying cannot help until a certificate, a CA or a
// configuration changes. A leader hint that failed does not count.
func (e *UnreachableError) TLSOnly(endpoints []string) bool {
	failed := map[string]bool{}
	for _, ep := range e.Endpoints {
		if errors.Is(ep.Err, ErrTLS) {
			failed[ep.Addr] = true
		}
	}
	for _, addr := range endpoints {
		if !failed[addr] {
			return false
		}
	}
	return len(endpoints) > 0
}

// describeEndpointErr says what err means for someone who typed addr.
func describeEndpointErr(addr string, err error) string {
	msg := err.Error()
	var te *TLSError
	switch {
	case errors.As(err, &te):
		msg = "TLS: " + te.Reason
	case errors.Is(err, rpc.ErrHTTPPort):
		msg = "that is an HTTP port, not a lockd client port"
	case errors.Is(err, rpc.ErrBadKind):
		msg = "that is not a lockd client port (a lockd peer port?): " + msg
	case errors.Is(err, rpc.ErrBadMagic):
		msg = "that is not a lockd port: something else answered: " + msg
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "connection refused: nothing listens there (is lockd running, and is this its client address?)"
	}
	if unspecified(addr) {
		msg += fmt.Sprintf(" (%s is an unspecified address, dialable only on the node's own host: a node advertising it needs a reachable client address)", addr)
	}
	return msg
}

// unspecified reports whether addr's host is 0.0.0.0 or [::]: a listen
// address, which a dialer reaches only on its own host.
func unspecified(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// checkEndpoint reports an endpoint that cannot be dialed whatever the
// network does: no host:port form, or no port.
func checkEndpoint(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Errorf("%w: endpoint %q: want host:port: %w", ErrInvalidConfig, addr, err)
	case port == "":
		return fmt.Errorf("%w: endpoint %q: no port", ErrInvalidConfig, addr)
	}
	return nil
}
