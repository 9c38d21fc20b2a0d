package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
)

// forwardedHopsMax bounds how far ClientIP walks X-Forwarded-For through
// trusted proxies; no real chain is this long.
const forwardedHopsMax = 32

// ClientIP is the address a request is limited (and logged) under: the
// TCP peer's IP, unless the peer is a trusted proxy. Then X-Forwarded-For
// is read right to left, every header line in order, skipping hops that
// are trusted proxies too; the first untrusted hop is the client. Each
// trusted proxy appended the hop to its left, so that hop is believed and
// everything further left, which the client could have written, is not.
// A hop that is not an IP ends the walk at the trusted proxy that wrote
// it. Addresses are unmapped (::ffff:1.2.3.4 is 1.2.3.4) and without
// zone; a peer address that is not an IP (a Unix socket) is the zero
// Addr, shared by every such peer.
func (l *Limiter) ClientIP(r *http.Request) netip.Addr {
	peer := parseHop(r.RemoteAddr)
	if !l.isTrusted(peer) {
		return peer
	}
	client := peer
	hops := 0
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			hop := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			if hops++; hops > forwardedHopsMax {
				return client
			}
			a := parseHop(hop)
			if !a.IsValid() {
				return client
			}
			client = a
			if !l.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

// isTrusted reports whether a is a configured trusted proxy.
func (l *Limiter) isTrusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads "ip", "ip:port", "[ipv6]" or "[ipv6]:port"; the zero
// Addr if it is none of them. The port is not checked: only the address
// matters here.
func parseHop(s string) netip.Addr {
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}
		}
		host = s[1:end]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		host = s[:i] // one colon: IPv4 with a port; more: a bare IPv6
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
