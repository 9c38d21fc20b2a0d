package gcs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/runtime/objtest"
	"github.com/weirmq/weir/sm"
)

// The object-store contract (runtime/objtest) on cloud.Executor over this
// store on fake-gcs-server: once with the defaults (every object a single
// request), once with a tiny MultipartThreshold so segment puts are
// resumable uploads; and behind the fault injector throwing a 429 at every
// third request and losing every fifth reply after the server processed
// it — the retries and the create-only resolution must keep the contract.
// (Not a delete's reply: after a lost one the store cannot tell "removed"
// from "was not there", which the contract distinguishes; both complete
// OK, and TestDeleteRetries covers it.)
func TestExecutorContract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		faulty bool
	}{
		{"single", nil, false},
		{"resumable", func(c *Config) { c.MultipartThreshold = 1 << 10; c.ChunkSize = 1 }, false},
		{"faults", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, "")
			var n atomic.Int32
			objtest.Run(t, func(t *testing.T) objtest.Subject {
				in := newInjector()
				cfg := testConfig(srv)
				cfg.Prefix = fmt.Sprintf("contract-%d/", n.Add(1))
				cfg.Transport = in
				if tc.edit != nil {
					tc.edit(&cfg)
				}
				s := openStore(t, cfg)
				if tc.faulty {
					var reqs atomic.Int32
					in.on(all, -1, func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
						switch k := reqs.Add(1); {
						case k%3 == 0:
							return refuse(429)(req, next)
						case k%5 == 0 && !isDelete(req):
							return dropReply(req, next)
						}
						return next.RoundTrip(req)
					})
				}
				return newSubject(t, s)
			})
		})
	}
}

// segments is a cloud.SegmentReader over planted byte slices.
type segments struct {
	mu   sync.Mutex
	segs map[string][]byte
}

func segKey(tp sm.TopicPartition, seg sm.Offset) string { return fmt.Sprintf("%v/%d", tp, seg) }

func (m *segments) ReadSegment(src sm.SegmentSource) (io.ReadCloser, error) {
	m.mu.Lock()
	data, ok := m.segs[segKey(src.TP, src.Segment)]
	m.mu.Unlock()
	if !ok || src.Pos+src.Len > int64(len(data)) {
		return nil, &cloud.Error{Kind: sm.ObjErrSourceGone, Op: "put", Err: fmt.Errorf("segment %v/%d not there", src.TP, src.Segment)}
	}
	return io.NopCloser(bytes.NewReader(data[src.Pos : src.Pos+src.Len])), nil
}

// subject is an Executor on a Store, posting into a channel.
type subject struct {
	*cloud.Executor
	segs *segments
	done chan sm.Event
}

func newSubject(t *testing.T, st cloud.Store) *subject {
	s := &subject{segs: &segments{segs: map[string][]byte{}}, done: make(chan sm.Event, 1024)}
	e, err := cloud.NewExecutor(st, s.segs, func(ev sm.Event) { s.done <- ev }, cloud.ExecutorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s.Executor = e
	t.Cleanup(func() { e.Close() })
	return s
}

func (s *subject) Next(t *testing.T) sm.ObjectDone {
	select {
	case ev := <-s.done:
		return ev.(sm.ObjectDone)
	case <-time.After(30 * time.Second):
		t.Fatalf("executor: no completion within 30s")
		return sm.ObjectDone{}
	}
}

func (s *subject) Plant(t *testing.T, tp sm.TopicPartition, seg sm.Offset, data []byte) {
	s.segs.mu.Lock()
	s.segs.segs[segKey(tp, seg)] = bytes.Clone(data)
	s.segs.mu.Unlock()
}

func (s *subject) Unplant(t *testing.T, tp sm.TopicPartition, seg sm.Offset) {
	s.segs.mu.Lock()
	delete(s.segs.segs, segKey(tp, seg))
	s.segs.mu.Unlock()
}
