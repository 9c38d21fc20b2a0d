package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirmq/weir/cloud"
	"github.com/weirmq/weir/sm"
)

func validBroker() Broker {
	b := DefaultBroker()
	b.TLS = TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
	return b
}

// Goal: [object_storage], [wal] upload_interval_ms and [cache]
// read_cache_size_bytes load from TOML (the reference's spelling included)
// and from WEIR_OBJECT_STORAGE_* variables, with defaults that keep
// tiering off; bad values are refused naming the key, and keys that would
// not take effect for the chosen store are refused too.
func TestObjectStorageKeys(t *testing.T) {
	b := DefaultBroker()
	if b.ObjectStorage.Enabled() || b.WAL.UploadIntervalMs != 600000 || b.Cache.ReadCacheSizeBytes != 256<<20 ||
		b.ObjectStorage.MaxConcurrentUploads != 10 || b.ObjectStorage.MultipartThreshold != 16<<20 {
		t.Fatalf("defaults: %+v %+v %+v", b.ObjectStorage, b.WAL, b.Cache)
	}
	doc := "[wal]\nupload_interval_ms = 5000\n[cache]\nread_cache_size_bytes = 67108864\n" +
		"[object_storage]\nstorage_type = \"Gcs\"\nbucket = \"weir-data\"\nregion = \"us-central1\"\nendpoint = \"http://127.0.0.1:4443\"\n" +
		"multipart_threshold = 52428800\nmax_concurrent_uploads = 50\n"
	env := []string{"WEIR_OBJECT_STORAGE_PREFIX=cluster-a/", "WEIR_OBJECT_STORAGE_UPLOAD_BANDWIDTH_BYTES_PER_SEC=1048576",
		"WEIR_OBJECT_STORAGE_LOCAL_RETENTION_MS=60000", "WEIR_OBJECT_STORAGE_LOCAL_RETENTION_BYTES=1073741824"}
	if err := Load(write(t, doc), &b, env); err != nil {
		t.Fatal(err)
	}
	o := b.ObjectStorage
	if o.Type() != StorageGCS || o.Bucket != "weir-data" || o.Region != "us-central1" || o.Endpoint != "http://127.0.0.1:4443" || o.Prefix != "cluster-a/" ||
		o.MultipartThreshold != 50<<20 || o.MaxConcurrentUploads != 50 || o.UploadBandwidthBytesPerSec != 1<<20 ||
		o.LocalRetentionMs != 60000 || o.LocalRetentionBytes != 1<<30 || b.WAL.UploadIntervalMs != 5000 || b.Cache.ReadCacheSizeBytes != 64<<20 {
		t.Fatalf("loaded %+v %+v %+v", o, b.WAL, b.Cache)
	}
	b.TLS = TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultController()
	if err := Load(write(t, "[object_storage]\nstorage_type = \"Local\"\npath = \"/tmp/x\"\ngc_grace_ms = 2000\n"), &c,
		[]string{"WEIR_OBJECT_STORAGE_GC_INTERVAL_MS=1500"}); err != nil {
		t.Fatal(err)
	}
	if c.ObjectStorage.Type() != StorageLocal || c.ObjectStorage.Path != "/tmp/x" || c.ObjectStorage.GCGraceMs != 2000 || c.ObjectStorage.GCIntervalMs != 1500 {
		t.Fatalf("controller: %+v", c.ObjectStorage)
	}
	// Broker-only keys are unknown to a controller.
	if err := Load(write(t, "[object_storage]\nmax_concurrent_uploads = 3\n"), &c, nil); err == nil || !strings.Contains(err.Error(), "unknown key object_storage.max_concurrent_uploads") {
		t.Fatalf("controller with max_concurrent_uploads: %v", err)
	}
	for _, st := range []string{"gcs", "GCS", "Gcs", "local", "Local", "none", "None", ""} {
		b := validBroker()
		b.ObjectStorage.StorageType = st
		b.ObjectStorage.Bucket, b.ObjectStorage.Path = "", ""
		switch strings.ToLower(st) {
		case "gcs":
			b.ObjectStorage.Bucket = "b"
		case "local":
			b.ObjectStorage.Path = "/tmp/x"
		}
		if err := b.Validate(); err != nil {
			t.Errorf("storage_type %q: %v", st, err)
		}
	}
}

func TestObjectStorageValidate(t *testing.T) {
	for _, c := range []struct {
		set  func(*Broker)
		want string
	}{
		{func(b *Broker) { b.ObjectStorage.StorageType = "S3" }, `object_storage.storage_type: "S3" is not supported: Weir's object-store adapters are Google Cloud Storage (gcs) and a directory (local)`},
		{func(b *Broker) { b.ObjectStorage.StorageType = "Azure" }, `"Azure" is not supported`},
		{func(b *Broker) { b.ObjectStorage.StorageType = "ftp" }, `object_storage.storage_type: want gcs, local or none (got "ftp")`},
		{func(b *Broker) { b.ObjectStorage.StorageType = "gcs" }, "object_storage.bucket: must name the GCS bucket"},
		{func(b *Broker) { b.ObjectStorage.StorageType = "local" }, "object_storage.path: must name the directory"},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Path, b.ObjectStorage.Bucket = "local", "/x", "b"
		}, "object_storage.bucket: applies to storage_type = \"gcs\" only"},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Path, b.ObjectStorage.Region = "local", "/x", "eu"
		}, "object_storage.region: applies to"},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Path, b.ObjectStorage.MultipartThreshold = "local", "/x", 1<<20
		}, "object_storage.multipart_threshold: applies to storage_type = \"gcs\" only"},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Bucket, b.ObjectStorage.Path = "gcs", "b", "/x"
		}, "object_storage.path: applies to storage_type = \"local\" only"},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Bucket, b.ObjectStorage.Endpoint = "gcs", "b", "localhost:4443"
		}, "object_storage.endpoint: want an http:// or https:// URL"},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Path, b.ObjectStorage.Prefix = "local", "/x", "a"
		}, `object_storage.prefix: must end with "/"`},
		{func(b *Broker) {
			b.ObjectStorage.StorageType, b.ObjectStorage.Path, b.ObjectStorage.Prefix = "local", "/x", "../a/"
		}, "object_storage.prefix: must be a relative name"},
		{func(b *Broker) { b.ObjectStorage.MultipartThreshold = 1000 }, "object_storage.multipart_threshold: must be in 262144..5368709120"},
		{func(b *Broker) { b.ObjectStorage.MaxConcurrentUploads = 0 }, "object_storage.max_concurrent_uploads: must be in 1..1000 (got 0)"},
		{func(b *Broker) { b.ObjectStorage.UploadBandwidthBytesPerSec = 100 }, "object_storage.upload_bandwidth_bytes_per_sec: must be 0 (unlimited) or >= 65536"},
		{func(b *Broker) { b.ObjectStorage.LocalRetentionMs = 0 }, "object_storage.local_retention_ms: must be -1"},
		{func(b *Broker) { b.ObjectStorage.LocalRetentionBytes = 0 }, "object_storage.local_retention_bytes: must be -1"},
		{func(b *Broker) { b.WAL.UploadIntervalMs = 10 }, "wal.upload_interval_ms: must be in 1000..604800000"},
		{func(b *Broker) { b.Cache.ReadCacheSizeBytes = 10 }, "cache.read_cache_size_bytes: must be >= 1048576"},
	} {
		b := validBroker()
		c.set(&b)
		if err := b.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want %q", err, c.want)
		}
	}
	c := DefaultController()
	c.TLS = TLS{CAFile: "a", CertFile: "b", KeyFile: "c"}
	c.ObjectStorage.GCGraceMs, c.ObjectStorage.GCIntervalMs = 5, 0
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "object_storage.gc_grace_ms: must be >= 1000 (got 5)") || !strings.Contains(err.Error(), "object_storage.gc_interval_ms") {
		t.Fatalf("controller Validate = %v", err)
	}
}

// Preflight opens the store and lists it: a local path that cannot be a
// directory and a gcs store in a binary without the adapter are refused
// naming the key.
func TestObjectStoragePreflight(t *testing.T) {
	dir := t.TempDir()
	o := ObjectStore{StorageType: "local", Path: filepath.Join(dir, "objects")}
	var p Preflight
	p.checkStore(&o, StoreOptions{})
	if len(p.Errs) != 0 {
		t.Fatalf("a fresh local store: %v", p.Errs[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "objects")); err != nil {
		t.Fatalf("the local store's directory was not made: %v", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o.Path = file
	p = Preflight{}
	p.checkStore(&o, StoreOptions{})
	if len(p.Errs) != 1 || p.Errs[0].Key != "object_storage.path" {
		t.Fatalf("a file as the store's path: %v", p.Errs)
	}
	saved := OpenGCS
	OpenGCS = nil
	defer func() { OpenGCS = saved }()
	g := ObjectStore{StorageType: "gcs", Bucket: "b"}
	p = Preflight{}
	p.checkStore(&g, StoreOptions{})
	if len(p.Errs) != 1 || !errors.Is(p.Errs[0], ErrGCSNotBuilt) || p.Errs[0].Key != "object_storage.storage_type" {
		t.Fatalf("gcs without the adapter: %v", p.Errs)
	}
}

// unreachable is a store whose lists fail, as a bucket without access does.
type unreachable struct{ cloud.Store }

func (unreachable) List(ctx context.Context, prefix, after string, limit int) ([]sm.ObjectInfo, bool, error) {
	return nil, false, &cloud.Error{Kind: sm.ObjErrUnavailable, Op: "list", Err: errors.New("403 Forbidden")}
}

// Reach names the key locating the store and the cause.
func TestObjectStorageReach(t *testing.T) {
	g := ObjectStore{StorageType: "gcs", Bucket: "weir-prod", Prefix: "c1/"}
	err := g.Reach(context.Background(), unreachable{})
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "object_storage.bucket" || ke.Value != "weir-prod" || !strings.Contains(err.Error(), "403 Forbidden") || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("Reach = %v", err)
	}
	l := ObjectStore{StorageType: "local", Path: "/x"}
	if err := l.Reach(context.Background(), unreachable{}); !errors.As(err, &ke) || ke.Key != "object_storage.path" {
		t.Fatalf("Reach = %v", err)
	}
}
