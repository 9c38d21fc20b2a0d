// Package server assembles Weir processes: a state machine from sm/, driven
// by runtime.Loop, with the production adapters — the WAL (io/wal) or the
// raft store (io/raftstore) for disk effects, the QUIC transport
// (net/transport) for messages, the admin HTTP server (net/admin) on
// controllers. The binaries in cmd/ and `weir dev` call it.
package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/runtime"
	"github.com/weirmq/weir/sm"
)

// queueEvents bounds a node loop's event queue; adapters block (and QUIC
// flow control pushes back on senders) when it is full.
const queueEvents = 8192

// addrBook maps node IDs to dial addresses: controllers from configuration,
// brokers from the metadata that flows through the node.
type addrBook struct {
	mu    sync.RWMutex
	addrs map[sm.NodeID]string
}

func newAddrBook() *addrBook { return &addrBook{addrs: map[sm.NodeID]string{}} }

func (b *addrBook) set(id sm.NodeID, addr string) {
	b.mu.Lock()
	b.addrs[id] = addr
	b.mu.Unlock()
}

func (b *addrBook) lookup(id sm.NodeID) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	a, ok := b.addrs[id]
	return a, ok
}

// learn records broker addresses from metadata a message carries.
func (b *addrBook) learn(m sm.Message) {
	var d *sm.MetadataDelta
	switch r := m.(type) {
	case sm.BrokerHeartbeatResponse:
		d = &r.Delta
	case sm.MetadataResponse:
		d = &r.Delta
	default:
		return
	}
	for _, br := range d.Brokers {
		if br.Host != "" {
			b.set(br.ID, br.Host)
		}
	}
}

// nextIncarnation reads, bumps and durably rewrites the process incarnation
// kept in dir: every start of a broker gets a number its predecessors never
// had. It is at least the Unix time in seconds, so a broker whose disk was
// lost (the file with it) still starts above the incarnation the controller
// remembers, and rejoins instead of being told it is stale; the stored
// counter keeps it growing when starts come faster than seconds or the clock
// steps back. fresh reports that dir held no incarnation: a first start, or
// a lost disk.
func nextIncarnation(dir string, now time.Time) (n uint64, fresh bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, false, fmt.Errorf("incarnation: %w", err)
	}
	path := filepath.Join(dir, "INCARNATION")
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		n, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("incarnation: %s holds %q, want a number", path, strings.TrimSpace(string(data)))
		}
	case errors.Is(err, os.ErrNotExist):
		fresh = true
	default:
		return 0, false, fmt.Errorf("incarnation: %w", err)
	}
	n = max(n+1, uint64(max(now.Unix(), 0)))
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, false, fmt.Errorf("incarnation: %w", err)
	}
	_, werr := f.WriteString(strconv.FormatUint(n, 10) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return 0, false, fmt.Errorf("incarnation: %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, false, fmt.Errorf("incarnation: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return n, fresh, nil
}

// AdminPrincipal is the principal of the admin API's requests in the state
// machines and the audit log when its caller is the operator (the bearer
// token, or an API left open); a certificate's caller is named by its own
// principal (admin.CallerFrom).
const AdminPrincipal = admin.TokenPrincipal

// local routes requests that originate inside this process (the admin HTTP
// server) into the node loop and their replies back, using admin client IDs
// (sm.AdminClientIDMin and up), which no remote peer may hold.
type local struct {
	loop    *runtime.Loop
	next    atomic.Uint64
	mu      sync.Mutex
	waiting map[sm.NodeID]chan sm.Message
}

func newLocal(loop *runtime.Loop) *local {
	return &local{loop: loop, waiting: map[sm.NodeID]chan sm.Message{}}
}

// isLocal reports whether id is one of ours.
func isLocal(id sm.NodeID) bool { return id.IsAdmin() }

// deliver hands a reply to its waiter; false if nobody waits (late reply).
func (l *local) deliver(e sm.Envelope) bool {
	l.mu.Lock()
	ch := l.waiting[e.To]
	l.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- e.Msg:
	default:
	}
	return true
}

// call posts msg (built with the request's ReqID) from a fresh local ID and
// waits for the first reply.
func (l *local) call(ctx context.Context, build func(reqID uint64) sm.Message) (sm.Message, error) {
	n := l.next.Add(1)
	id := sm.AdminClientIDMin + sm.NodeID(n)
	ch := make(chan sm.Message, 1)
	l.mu.Lock()
	l.waiting[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiting, id)
		l.mu.Unlock()
	}()
	ev := sm.Received{From: id, Msg: build(n), Principal: AdminPrincipal}
	if c, ok := admin.CallerFrom(ctx); ok { // who the admin API authenticated, for the audit log
		ev.Principal, ev.Source = c.Principal, c.Source
	}
	if err := l.loop.Post(ctx, ev); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
