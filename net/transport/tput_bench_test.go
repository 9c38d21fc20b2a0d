package transport

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/rs/zerolog"
	"github.com/weirmq/weir/sm"

	"github.com/quic-go/quic-go"
)

// BenchmarkStreamThroughput measures one quic-go stream's bulk throughput
// over loopback with mutual TLS: 16 MiB written in 1 MiB writes, read on the
// other side, at several receive-window limits. It is the ceiling of the
// consumer fetch path (one connection, one stream per direction).
func BenchmarkStreamThroughput(b *testing.B) {
	for _, win := range []uint64{1 << 20, 4 << 20, 16 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("window=%dMiB", win>>20), func(b *testing.B) { benchStream(b, win) })
	}
}

func benchStream(b *testing.B, win uint64) {
	qcfg := &quic.Config{MaxStreamReceiveWindow: win, MaxConnectionReceiveWindow: 2 * win}
	ln, err := quic.ListenAddr("127.0.0.1:0", serverTLS(b, "broker-101"), qcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const total = 16 << 20
	done := make(chan error, 1)
	go func() {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			done <- err
			return
		}
		s, err := qc.AcceptUniStream(context.Background())
		if err != nil {
			done <- err
			return
		}
		buf := make([]byte, 256<<10)
		for {
			n := 0
			for n < total {
				m, err := s.Read(buf)
				if err != nil {
					done <- err
					return
				}
				n += m
			}
			done <- nil
		}
	}()
	tc := clientTLS(b, "client-a")
	tc.ServerName = "127.0.0.1"
	qc, err := quic.DialAddr(context.Background(), ln.Addr().String(), tc, qcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	s, err := qc.OpenUniStreamSync(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	b.SetBytes(total)
	for b.Loop() {
		for n := 0; n < total; n += len(chunk) {
			if _, err := s.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchThroughput sends FetchResponses of 1 KiB records, 1 MiB and
// 8 MiB a response, from a broker transport to a client transport, one
// response in flight (as one partition's consumer fetches), and reports the
// records' bytes per second: the transport and codec's share of the fetch
// path, beside BenchmarkStreamThroughput's raw stream.
func BenchmarkFetchThroughput(b *testing.B) {
	for _, mib := range []int{1, 8} {
		b.Run(fmt.Sprintf("response=%dMiB", mib), func(b *testing.B) { benchFetch(b, mib) })
	}
}

func benchFetch(b *testing.B, mib int) {
	book := newBook()
	var broker *Transport
	var batches []sm.Batch
	for i := 0; i < mib*16; i++ { // 64 KiB batches
		bt := sm.Batch{BaseOffset: sm.Offset(i * 64), Epoch: 1}
		for j := 0; j < 64; j++ {
			bt.Records = append(bt.Records, sm.Record{Value: make([]byte, 1024)})
		}
		bt.CRC = sm.BatchCRC(&bt)
		batches = append(batches, bt)
	}
	cfg, _ := nodeConfig(b, 101, "broker-101", true, book)
	cfg.Log = zerolog.Nop()
	cfg.MaxFrameBytes = 64 << 20
	cfg.Deliver = func(p Peer, m sm.Message) {
		from := p.ID
		req := m.(sm.FetchRequest)
		broker.Send([]sm.Envelope{{To: from, Msg: sm.FetchResponse{ReqID: req.ReqID, TP: req.TP, Batches: batches, HighWatermark: 1 << 40}}})
	}
	broker = start(b, cfg, nil, book).Transport
	replies := make(chan int, 1)
	ccfg, _ := nodeConfig(b, 1_000_001, "client-a", false, book)
	ccfg.Log = zerolog.Nop()
	ccfg.MaxFrameBytes = 64 << 20
	ccfg.Deliver = func(_ Peer, m sm.Message) {
		n := 0
		for _, bt := range m.(sm.FetchResponse).Batches {
			n += len(bt.Records)
		}
		replies <- n
	}
	client := start(b, ccfg, nil, book)
	env := []sm.Envelope{{To: 101, Msg: sm.FetchRequest{ReqID: 1, TP: sm.TopicPartition{Topic: "bench"}}}}
	client.Send(env)
	<-replies
	b.SetBytes(int64(mib) << 20)
	b.ReportAllocs()
	for b.Loop() {
		client.Send(env)
		if n := <-replies; n != mib*1024 {
			b.Fatalf("%d records", n)
		}
	}
}
