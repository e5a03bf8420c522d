package deptest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// A Proxy forwards TCP to a dependency (PostgreSQL, MinIO) and lets a test break the path: Cut drops
// every connection and refuses new ones, as a dead server does; a limit cuts each connection after
// that many bytes from the client, as a server dying mid-request does.
type Proxy struct {
	target string
	limit  int64
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

// StartProxy listens on a loopback port and forwards to target, cutting each connection after limit
// bytes from the client (1<<40: never).
func StartProxy(t testing.TB, target string, limit int64) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, limit: limit}
	t.Cleanup(func() { ln.Close() })
	go p.accept(ln)
	return p
}

// Addr is the host:port to point the service at instead of target.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln.Addr().String()
}

// Cut stops accepting and breaks every open connection: the dependency is gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Reopen accepts again on the same address: the dependency is back.
func (p *Proxy) Reopen(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr())
	if err != nil {
		t.Skipf("could not reopen the proxy port: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	t.Cleanup(func() { ln.Close() })
	go p.accept(ln)
}

func (p *Proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, up) }()
	_, _ = io.CopyN(up, c, p.limit) // then both sides are closed: the dependency "dies" mid-request
}
