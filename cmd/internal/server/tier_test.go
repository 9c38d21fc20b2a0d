package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/weirmq/weir/cloud/local"
	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/sm"
)

// Goal: the production object-store path end to end — a broker on the dev
// cluster's local store rolls committed data older than upload_interval_ms
// (at the next append),
// uploads the sealed segment through the executor (read from the WAL,
// verified) under its zombie-proof name, and the object holds exactly the
// segment's frames from offset 0 followed by its index.
func TestBrokerUploadsToLocalStore(t *testing.T) {
	r := newLossRig(t)
	r.startBroker(func(cfg *config.Broker) { cfg.WAL.UploadIntervalMs = 1000 })
	r.createTopic("t")
	_, p := r.producer()
	for i := range 40 {
		if _, err := send(p, "t", fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// A leader rolls a segment older than the upload interval at its next
	// append; the sealed segment is uploaded once that append is committed
	// and durable.
	time.Sleep(1200 * time.Millisecond)
	if _, err := send(p, "t", []byte("after the roll")); err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(r.o.ObjectsDir())
	if err != nil {
		t.Fatal(err)
	}
	var objs []sm.ObjectInfo
	deadline := time.Now().Add(30 * time.Second)
	for len(objs) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no segment uploaded within 30 s; executor stats %+v", r.brk.Objects.Stats())
		}
		time.Sleep(100 * time.Millisecond)
		if objs, _, err = st.List(context.Background(), sm.SegmentsPrefix, "", 0); err != nil {
			t.Fatal(err)
		}
	}
	name, err := sm.ParseObjectName(objs[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if name.Base != 0 || name.Broker != r.brk.ID || name.Partition != 0 {
		t.Fatalf("object %s: %+v", objs[0].Name, name)
	}
	data, err := st.Get(context.Background(), objs[0].Name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	idx, serr := sm.ScanSegment(data, 0, 0)
	if serr == nil || idx.Next == 0 || idx.Bytes == 0 {
		t.Fatalf("object of %d bytes: frames %+v, then %v (want frames, then the index trailer)", len(data), idx, serr)
	}
	trailer, err := sm.DecodeSegmentIndex(data[idx.Bytes:])
	if err != nil {
		t.Fatalf("index trailer: %v", err)
	}
	if trailer.Base != 0 || trailer.Next != idx.Next || trailer.Bytes != idx.Bytes {
		t.Fatalf("trailer %+v, frames %+v", trailer, idx)
	}
	if s := r.brk.Objects.Stats(); s.Puts == 0 || s.PutBytes < uint64(len(data)) {
		t.Fatalf("executor stats %+v after an upload of %d bytes", s, len(data))
	}
	// Its metrics count the upload and show the cold cache.
	for _, m := range []string{"weir_object_store_puts_total", "weir_object_store_put_bytes_total", "weir_cold_cache_budget_bytes", "weir_tier_uploads_in_flight"} {
		for body := ""; !strings.Contains(body, m+" ") || strings.Contains(body, m+" 0\n") && strings.HasPrefix(m, "weir_object_store_put"); {
			if time.Now().After(deadline) {
				t.Fatalf("broker metrics lack %s (or it is 0):\n%s", m, grepLines(body, "weir_object_store|weir_cold|weir_tier"))
			}
			time.Sleep(200 * time.Millisecond)
			body = httpGet(t, "http://"+r.brk.MetricsAddr+"/metrics")
		}
	}
	// The broker's health reports its object store, reachable.
	want := `"object_storage":{"healthy":true,"configured":true}`
	for body := ""; !strings.Contains(body, want); {
		if time.Now().After(deadline) {
			t.Fatalf("broker health %s lacks %s", body, want)
		}
		time.Sleep(200 * time.Millisecond)
		_, body = r.admin(http.MethodGet, "/api/v1/brokers/101/health", "")
	}
}

// Goal: storage_type = "gcs" end to end — a broker configured with a bucket
// and an emulator endpoint (fake-gcs-server in-process, no credentials)
// uploads through the real storage client, and the object is in the bucket
// under the prefix.
func TestBrokerUploadsToGCS(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1", Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "weir-itest"})
	r := newLossRig(t)
	r.startBroker(func(cfg *config.Broker) {
		cfg.WAL.UploadIntervalMs = 1000
		cfg.ObjectStorage.StorageType, cfg.ObjectStorage.Path = "gcs", ""
		cfg.ObjectStorage.Bucket, cfg.ObjectStorage.Endpoint, cfg.ObjectStorage.Prefix = "weir-itest", srv.URL(), "cluster-a/"
	})
	r.createTopic("t")
	_, p := r.producer()
	for i := range 20 {
		if _, err := send(p, "t", fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1200 * time.Millisecond)
	if _, err := send(p, "t", []byte("after the roll")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		objs, _, err := srv.ListObjectsWithOptions("weir-itest", fakestorage.ListOptions{Prefix: "cluster-a/" + sm.SegmentsPrefix})
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) > 0 {
			name, err := sm.ParseObjectName(strings.TrimPrefix(objs[0].Name, "cluster-a/"))
			if err != nil || name.Base != 0 || name.Broker != r.brk.ID {
				t.Fatalf("object %q: %+v %v", objs[0].Name, name, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing uploaded to the bucket within 30 s; executor stats %+v", r.brk.Objects.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
