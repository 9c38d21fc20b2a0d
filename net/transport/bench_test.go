package transport

import (
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// BenchmarkRoundTrip measures one request/response over loopback QUIC with
// mutual TLS: a client sends a ProduceRequest carrying one 1 KiB record, the
// broker answers with a ProduceResponse, and the client waits for it. The
// raw-quic case is the floor: the same sizes as length-prefixed blobs over one
// bidirectional quic-go stream, with no encoding, queues or goroutine
// hand-offs.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("transport", benchTransport)
	b.Run("raw-quic", benchRawQUIC)
}

var (
	benchRequest  = sm.ProduceRequest{ReqID: 1, TP: sm.TopicPartition{Topic: "bench"}, Acks: sm.Acks{Kind: sm.AckLeader}, Records: []sm.Record{{Value: make([]byte, 1024)}}}
	benchResponse = sm.ProduceResponse{ReqID: 1, TP: sm.TopicPartition{Topic: "bench"}, BaseOffset: 1}
)

func benchTransport(b *testing.B) {
	book := newBook()
	var broker *Transport
	cfg, _ := nodeConfig(b, 101, "broker-101", true, book)
	cfg.Log = zerolog.Nop()
	cfg.Deliver = func(p Peer, m sm.Message) {
		from := p.ID
		req := m.(sm.ProduceRequest)
		broker.Send([]sm.Envelope{{To: from, Msg: sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, BaseOffset: 1}}})
	}
	broker = start(b, cfg, nil, book).Transport
	replies := make(chan uint64, 1)
	ccfg, _ := nodeConfig(b, 1_000_001, "client-a", false, book)
	ccfg.Log = zerolog.Nop()
	ccfg.Deliver = func(_ Peer, m sm.Message) { replies <- m.(sm.ProduceResponse).ReqID }
	client := start(b, ccfg, nil, book)
	env := []sm.Envelope{{To: 101, Msg: benchRequest}}
	client.Send(env) // connect outside the timed loop
	<-replies
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		client.Send(env)
		<-replies
	}
}

func benchRawQUIC(b *testing.B) {
	ln, err := quic.ListenAddr("127.0.0.1:0", serverTLS(b, "broker-101"), &quic.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	reqFrame, _ := wire.Encode(benchRequest)
	respFrame, _ := wire.Encode(benchResponse)
	go func() {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		s, err := qc.AcceptStream(context.Background())
		if err != nil {
			return
		}
		buf := make([]byte, len(reqFrame))
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(respFrame); err != nil {
				return
			}
		}
	}()
	tc := clientTLS(b, "client-a")
	tc.ServerName = "127.0.0.1"
	qc, err := quic.DialAddr(context.Background(), ln.Addr().String(), tc, &quic.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	s, err := qc.OpenStreamSync(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	resp := make([]byte, len(respFrame))
	roundTrip := func() {
		if _, err := s.Write(reqFrame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(s, resp); err != nil {
			b.Fatal(err)
		}
		if binary.LittleEndian.Uint32(resp) != uint32(len(resp)-4) {
			b.Fatal("bad response")
		}
	}
	roundTrip()
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}
