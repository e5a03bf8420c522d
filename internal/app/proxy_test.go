package app_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func reportStatus(t *testing.T, ta *apptest.App, ref string) int {
	return count(t, ta, `SELECT status_code FROM reports WHERE ref_key = $1`, ref)
}

// proxy forwards TCP to target and can cut every connection after limit bytes from the client.
type proxy struct {
	ln     net.Listener
	target string
	limit  int64
	mu     sync.Mutex
	conns  []net.Conn
}

// cut stops accepting and breaks every open connection: the peer is gone.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func startProxy(t *testing.T, target string, limit int64) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, limit: limit}
	t.Cleanup(func() { ln.Close() })
	go p.accept(ln)
	return p
}

// accept forwards every connection ln takes until ln is closed.
func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
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
	_, _ = io.CopyN(up, c, p.limit) // then both sides are closed: the store "dies" mid-request
}
