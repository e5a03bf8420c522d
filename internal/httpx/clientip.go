package httpx

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Proxies says whom to believe about the client's address. Header (e.g. X-Forwarded-For) is read only
// when the direct peer is inside Trusted; with either missing, the client is the direct peer.
type Proxies struct {
	Header  string
	Trusted []netip.Prefix
}

func (p Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, t := range p.Trusted {
		if t.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client: the peer itself unless it is a trusted proxy; then the
// right-most address of the header's values that is not a trusted proxy. Addresses to the left of that
// one were written by the client and prove nothing, so rotating them changes nothing. A malformed entry
// stops the walk at the nearest trusted hop.
func (p Proxies) ClientIP(peer netip.Addr, values [][]byte) netip.Addr {
	client := peer.Unmap()
	if p.Header == "" || !p.trusts(client) {
		return client
	}
	for i := len(values) - 1; i >= 0; i-- {
		entries := bytes.Split(values[i], []byte(","))
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseHop(string(bytes.TrimSpace(entries[j])))
			if !ok {
				return client
			}
			client = a
			if !p.trusts(client) {
				return client
			}
		}
	}
	return client
}

// parseHop reads one proxy-header entry: an address, optionally with a port or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// ClientAddr resolves the client's address once per request and makes it the request's remote
// address, so c.IP() everywhere (rate limits, logs) sees the client and never the raw header.
func ClientAddr(p Proxies) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p.Header == "" || len(p.Trusted) == 0 {
			return c.Next()
		}
		peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
		if !ok {
			return c.Next()
		}
		if client := p.ClientIP(peer, c.Request().Header.PeekAll(p.Header)); client != peer.Unmap() {
			c.Context().SetRemoteAddr(&net.TCPAddr{IP: client.AsSlice()})
		}
		return c.Next()
	}
}
