package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

// Every message type survives Encode then Decode, modulo nil versus empty
// slices, and (except raft's protobuf) re-encodes to the same bytes.
func TestRoundTrip(t *testing.T) {
	for _, typ := range messageTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				m := genMessage(typ).Draw(t, "m")
				frame, err := Encode(m)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if got, _ := PeekType(frame); got != TypeFor(typ) {
					t.Fatalf("frame type %v, want %v", got, typ)
				}
				got, err := Decode(frame)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !equalMessages(m, got) {
					t.Fatalf("round trip changed the message:\nsent %#v\ngot  %#v", m, got)
				}
				again, err := Encode(got)
				if err != nil {
					t.Fatalf("re-encode: %v", err)
				}
				if typ != sm.KindRaftMessage && !bytes.Equal(again, frame) {
					t.Fatalf("encoding is not canonical")
				}
			})
		})
	}
}

// The fixed samples cover every type, and AppendFrame appends after existing
// bytes without disturbing them.
func TestSamplesAndAppend(t *testing.T) {
	ss := samples()
	if len(ss) != len(messageTypes()) {
		t.Fatalf("%d samples for %d types", len(ss), len(messageTypes()))
	}
	var stream []byte
	for i, m := range ss {
		typ, err := TypeOf(m)
		if err != nil || typ != TypeFor(messageTypes()[i]) {
			t.Fatalf("sample %d: type %v (%v), want %v", i, typ, err, messageTypes()[i])
		}
		if stream, err = AppendFrame(stream, m); err != nil {
			t.Fatal(err)
		}
	}
	stream = AppendHello(stream, Hello{Node: 101, Role: RoleBroker, Version: Version})
	r := bytes.NewReader(stream)
	for i, m := range ss {
		frame, err := ReadFrame(r, 0)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		got, err := Decode(frame)
		if err != nil || !equalMessages(m, got) {
			t.Fatalf("sample %d: %v\n%#v", i, err, got)
		}
	}
	frame, err := ReadFrame(r, HelloFrameBytes)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := DecodeHello(frame); err != nil || h != (Hello{Node: 101, Role: RoleBroker, Version: Version}) {
		t.Fatalf("hello %+v, %v", h, err)
	}
	if _, err := ReadFrame(r, 0); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestEncodeRefusesUnknownTypes(t *testing.T) {
	for _, m := range []sm.Message{nil, &sm.ProduceRequest{}} {
		if _, err := Encode(m); err == nil {
			t.Fatalf("Encode(%T) succeeded", m)
		}
	}
}

// setPrefix rewrites a frame's length prefix to match its (changed) length.
func setPrefix(frame []byte) []byte {
	binary.LittleEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

// Errors name the message, the field path and the problem.
func TestDecodeErrorMessages(t *testing.T) {
	produce := sm.ProduceRequest{TP: sm.TopicPartition{Topic: "t"}, Records: make([]sm.Record, 4)}
	frame, _ := Encode(produce)
	// The value length of records[3] sits 33 bytes before the end (value
	// length, then the timeout, codec, an empty block, count, block CRC
	// and max timestamp). Claim 4294967295 bytes there.
	lying := bytes.Clone(frame)
	binary.LittleEndian.PutUint32(lying[len(lying)-48:], 0xFFFFFFFF)

	hb, _ := Encode(sm.BrokerHeartbeatResponse{Delta: sm.MetadataDelta{Partitions: []sm.PartitionState{{ISR: []sm.NodeID{1}}}}})
	hbCount := bytes.Clone(hb)
	// The ISR count is 4+8+8+4+28+4+5+8 bytes before the end (isr count,
	// one id, partition epoch, an empty elr, the remote range, an empty
	// acl, no revoked list, then the session timeout).
	binary.LittleEndian.PutUint32(hbCount[len(hbCount)-8-5-4-28-4-8-8-4:], 1000)

	fetch, _ := Encode(samples()[3])
	corrupt := bytes.Clone(fetch)
	corrupt[len(corrupt)-40] ^= 0xFF // inside the second batch's records

	boolBad, _ := Encode(sm.ReplicaFetchResponse{Diverging: true})
	boolBad[len(boolBad)-25] = 7 // before divergingEpoch, divergingEndOffset and logStart

	presenceBad, _ := Encode(sm.BrokerHeartbeat{Broker: 101})
	// The health presence byte comes before lostDisk (1), lost (count 4) and
	// acceptDataLoss (1) in a report-less heartbeat.
	presenceBad[len(presenceBad)-7] = 2
	healthShort, _ := Encode(samples()[6])
	healthShort = setPrefix(healthShort[:len(healthShort)-6-4]) // cut inside resources.cpuPercent
	statusCount, _ := Encode(sm.ClusterStatusResponse{Brokers: make([]sm.BrokerStatus, 1)})
	// The broker count sits before one broker status (info 25 + online 1 +
	// last report 8 + health 97 bytes) and the trailer (healthy, leader, now).
	binary.LittleEndian.PutUint32(statusCount[len(statusCount)-131-17-4:], 2)

	epochsCount, _ := Encode(sm.RemoteSegmentsResponse{Segments: []sm.RemoteSegment{{Epochs: []sm.EpochStart{{Epoch: 1, Start: 2}}}}})
	// The segment's epochs count sits before its one epoch start (16) and
	// More (1).
	binary.LittleEndian.PutUint32(epochsCount[len(epochsCount)-1-16-4:], 5)
	segmentShort, _ := Encode(sm.CommitSegmentRequest{})
	// Keep 4 bytes of segment.next: cut the rest of the segment (next's
	// other 4, data, index, max timestamp, epoch, epochs count).
	segmentShort = setPrefix(segmentShort[:len(segmentShort)-4-8-8-8-8-4])

	versionBad, _ := Encode(sm.MetadataRequest{})
	versionBad[4] = 9
	typeBad, _ := Encode(sm.MetadataRequest{})
	typeBad[5] = 200
	trailing, _ := Encode(sm.MetadataRequest{})
	trailing = setPrefix(append(trailing, 1, 2, 3))
	short, _ := Encode(sm.MetadataRequest{})
	short = setPrefix(short[:len(short)-3])

	cases := []struct {
		name  string
		frame []byte
		want  string
		is    error
	}{
		{"lying length", lying, "wire: ProduceRequest: records[3].value: length 4294967295 exceeds remaining 44 bytes", ErrMalformed},
		{"count", hbCount, "wire: BrokerHeartbeatResponse: delta.partitions[0].isr: count 1000 needs at least 8000 bytes, exceeds remaining 65 bytes", ErrMalformed},
		{"batch checksum", corrupt, "wire: FetchResponse: batches[1]: sm: batch frame checksum mismatch", sm.ErrCorruptFrame},
		{"bool", boolBad, "wire: ReplicaFetchResponse: diverging: invalid bool 7", ErrMalformed},
		{"health presence", presenceBad, "wire: BrokerHeartbeat: health: invalid presence byte 2", ErrMalformed},
		{"health cut", healthShort, "wire: BrokerHeartbeat: health.resources.cpuPercent: truncated: need 8 bytes, 4 remaining", ErrMalformed},
		{"status brokers", statusCount, "wire: ClusterStatusResponse: brokers: count 2 needs at least 262 bytes, exceeds remaining 148 bytes", ErrMalformed},
		{"segment epochs", epochsCount, "wire: RemoteSegmentsResponse: segments[0].epochs: count 5 needs at least 80 bytes, exceeds remaining 17 bytes", ErrMalformed},
		{"segment cut", segmentShort, "wire: CommitSegmentRequest: segment.next: truncated: need 8 bytes, 4 remaining", ErrMalformed},
		{"version", versionBad, "wire: frame: version 9 not supported (this build speaks 1)", ErrVersion},
		{"type", typeBad, "wire: frame: unknown type 200", ErrUnknownType},
		{"trailing", trailing, "wire: MetadataRequest: 3 trailing bytes", ErrMalformed},
		{"short", short, "wire: MetadataRequest: sinceVersion: truncated: need 8 bytes, 5 remaining", ErrMalformed},
		{"prefix", fetch[:len(fetch)-1], "wire: frame: length prefix", ErrMalformed},
		{"tiny", []byte{1, 0}, "wire: frame: 2 bytes, shorter than the 6-byte header", ErrMalformed},
		{"hello in stream", AppendHello(nil, Hello{Node: 1, Role: RoleBroker, Version: 1}), "wire: Hello: unexpected Hello", ErrMalformed},
	}
	for _, c := range cases {
		_, err := Decode(c.frame)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v\nwant prefix %q", c.name, err, c.want)
		}
		if err != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.name, err, c.is)
		}
	}
}

func TestHelloValidation(t *testing.T) {
	good := Hello{Node: 1_000_001, Role: RoleClient, Version: Version}
	if h, err := DecodeHello(AppendHello(nil, good)); err != nil || h != good {
		t.Fatalf("%+v %v", h, err)
	}
	for _, c := range []struct {
		h    Hello
		want string
	}{
		{Hello{Node: 1, Role: 0, Version: 1}, "role: invalid role 0"},
		{Hello{Node: 1, Role: 4, Version: 1}, "role: invalid role 4"},
		{Hello{Node: 1, Role: RoleBroker, Version: 0}, "version: invalid version 0"},
		{Hello{Node: 0, Role: RoleBroker, Version: 1}, "node: node id 0"},
	} {
		if _, err := DecodeHello(AppendHello(nil, c.h)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.h, err, c.want)
		}
	}
	frame, _ := Encode(sm.MetadataRequest{})
	if _, err := DecodeHello(frame); err == nil || !strings.Contains(err.Error(), "expected Hello") {
		t.Fatalf("message as hello: %v", err)
	}
}

// Every truncation and every single-byte change of every sample either
// decodes or fails with ErrMalformed; nothing panics. (The fuzz targets
// explore further; this runs on every go test.)
func TestMutationsNeverPanic(t *testing.T) {
	for _, m := range samples() {
		frame, _ := Encode(m)
		for cut := 0; cut < len(frame); cut++ {
			short := bytes.Clone(frame[:cut])
			if cut >= 4 {
				setPrefix(short)
			}
			if _, err := Decode(short); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%T cut at %d: %v", m, cut, err)
			}
		}
		for i := 4; i < len(frame); i++ {
			for _, x := range []byte{0x01, 0x80, 0xFF} {
				mut := bytes.Clone(frame)
				mut[i] ^= x
				if _, err := Decode(mut); err != nil && !errors.Is(err, ErrMalformed) {
					t.Fatalf("%T byte %d: %v", m, i, err)
				}
			}
		}
	}
}

// countingReader counts the bytes it hands out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += k
	return k, err
}

// An oversized frame is refused from its length prefix: nothing after the
// prefix is read.
func TestReadFrameRefusesOversizedBeforeReading(t *testing.T) {
	frame, _ := Encode(samples()[3])
	r := &countingReader{r: bytes.NewReader(frame)}
	_, err := ReadFrame(r, len(frame)-1)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err %v, want ErrFrameTooLarge", err)
	}
	if r.n != 4 {
		t.Fatalf("read %d bytes, want only the 4-byte prefix", r.n)
	}
	if got, err := ReadFrame(bytes.NewReader(frame), len(frame)); err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("at exactly the limit: %v", err)
	}
}

// A prefix that promises 1 GiB but delivers a few bytes costs about the
// bytes delivered plus one 64 KiB chunk, not the promise.
func TestReadFrameLyingPrefixAllocatesLittle(t *testing.T) {
	input := binary.LittleEndian.AppendUint32(nil, 1<<30)
	input = append(input, Version, byte(sm.KindProduceRequest), 1, 2, 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(bytes.NewReader(input), 2<<30)
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err %v, want io.ErrUnexpectedEOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for a 9-byte input", grew)
	}
}

func TestReadFrameShortInputs(t *testing.T) {
	if _, err := ReadFrame(bytes.NewReader(nil), 0); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{1, 0}), 0); err != io.ErrUnexpectedEOF {
		t.Fatalf("half a prefix: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{1, 0, 0, 0, 1}), 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("length below minimum: %v", err)
	}
	big := binary.LittleEndian.AppendUint32(nil, 200_000)
	big = append(big, make([]byte, 200_000)...)
	if got, err := ReadFrame(bytes.NewReader(big), 0); err != nil || len(got) != len(big) {
		t.Fatalf("frame spanning several chunks: %d bytes, %v", len(got), err)
	}
}

func BenchmarkEncodeProduce1KiB(b *testing.B) {
	m := sm.ProduceRequest{ReqID: 1, TP: sm.TopicPartition{Topic: "bench"}, Records: []sm.Record{{Value: make([]byte, 1024)}}}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendFrame(buf[:0], m)
	}
}

func BenchmarkDecodeProduce1KiB(b *testing.B) {
	frame, _ := Encode(sm.ProduceRequest{ReqID: 1, TP: sm.TopicPartition{Topic: "bench"}, Records: []sm.Record{{Value: make([]byte, 1024)}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// The wire's own enums keep their released values (message kinds are held
// by sm's TestEnumsAppendOnly): Hello is frame type 1, and roles are
// client 1, broker 2, controller 3. Append new values; never change these.
func TestWireEnumsFixed(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uint8
		want uint8
	}{
		{TypeHello.String(), uint8(TypeHello), 1},
		{RoleClient.String(), uint8(RoleClient), 1},
		{RoleBroker.String(), uint8(RoleBroker), 2},
		{RoleController.String(), uint8(RoleController), 3},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, released as %d", c.name, c.got, c.want)
		}
	}
	if RoleClient.String() != "client" || RoleBroker.String() != "broker" || RoleController.String() != "controller" {
		t.Errorf("role names %v %v %v: certificates use client, broker, controller", RoleClient, RoleBroker, RoleController)
	}
	// Every message kind is its own frame type, and every frame type but
	// Hello names a message kind.
	for _, typ := range Types() {
		if k, ok := typ.Kind(); ok != (typ != TypeHello) || (ok && TypeFor(k) != typ) {
			t.Errorf("type %v: kind %v, %v", typ, k, ok)
		}
	}
}
