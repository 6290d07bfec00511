package pki

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// hostNames are the subject alternative names of a node certificate.
type hostNames struct {
	ips   []net.IP
	names []string
}

// ParseHosts checks the hosts of a node certificate: each an IP address
// (IPv4 or IPv6, no zone) or a DNS name (letters, digits and '-' in
// dot-separated labels of up to 63 characters, 253 in all, the last not
// all digits), without a port. It returns them in order, without duplicates; at least one is
// needed.
func ParseHosts(hosts []string) ([]string, error) {
	h, err := parseHosts(hosts)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(h.ips)+len(h.names))
	for _, ip := range h.ips {
		out = append(out, ip.String())
	}
	return append(out, h.names...), nil
}

func parseHosts(hosts []string) (hostNames, error) {
	var h hostNames
	seen := make(map[string]bool)
	for _, host := range hosts {
		if ip, err := netip.ParseAddr(host); err == nil {
			if ip.Zone() != "" {
				return hostNames{}, fmt.Errorf("%w %q: an IPv6 zone cannot be certified", ErrInvalidHost, host)
			}
			ip = ip.Unmap()
			if !seen[ip.String()] {
				seen[ip.String()] = true
				h.ips = append(h.ips, net.IP(ip.AsSlice()))
			}
			continue
		}
		name := strings.ToLower(host)
		if err := checkDNSName(name); err != nil {
			return hostNames{}, fmt.Errorf("%w %q: %v", ErrInvalidHost, host, err)
		}
		if !seen[name] {
			seen[name] = true
			h.names = append(h.names, name)
		}
	}
	if len(h.ips)+len(h.names) == 0 {
		return hostNames{}, fmt.Errorf("%w: a node certificate needs the names or addresses it is reached at", ErrNoHosts)
	}
	return h, nil
}

// checkDNSName accepts a lower-case DNS name of letter-digit-hyphen labels.
func checkDNSName(name string) error {
	if _, _, err := net.SplitHostPort(name); err == nil {
		return fmt.Errorf("give the host without a port")
	}
	if name == "" || len(name) > 253 {
		return fmt.Errorf("want a name of 1 to 253 characters")
	}
	if strings.Trim(name[strings.LastIndexByte(name, '.')+1:], "0123456789") == "" {
		return fmt.Errorf("not an IP address, and a DNS name's last label is not all digits")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("want dot-separated labels of 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("a label cannot start or end with '-'")
		}
		for _, r := range label {
			if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') {
				return fmt.Errorf("not an IP address, and a DNS name holds only letters, digits, '-' and '.'")
			}
		}
	}
	return nil
}
