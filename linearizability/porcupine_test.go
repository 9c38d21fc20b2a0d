package linearizability

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

const testTimeout = 10 * time.Second

// TestPorcupineLog checks LogModel: a valid history is Ok; contradictions of
// the one-log promise or of durable real-time order are Illegal and get an
// HTML visualization of the illegal partition only.
func TestPorcupineLog(t *testing.T) {
	cases := []struct {
		name  string
		ops   []Op
		legal bool
	}{
		{"valid", validOps(), true},
		{"stale and empty reads are legal", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			prod(0, "t/0", 20, 30, OK, 1, 1, true, "b"),
			fetch(1, "t/0", 40, 50, 1, 1, false, recs(0, "a")...),
			fetch(1, "t/0", 60, 70, 0, 1, false),
		}, true},
		{"two produces claim one offset", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			prod(1, "t/0", 5, 15, OK, 0, 1, true, "b"),
		}, false},
		{"produce order contradicts real time", []Op{
			prod(0, "t/0", 0, 10, OK, 1, 1, true, "a"),
			prod(0, "t/0", 20, 30, OK, 0, 1, true, "b"),
		}, false},
		{"read of a value at the wrong offset", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
			fetch(1, "t/0", 20, 30, 2, 1, false, recs(1, "a")...),
		}, false},
		{"reads disagree", []Op{
			prod(0, "t/0", 0, 10, Unknown, 0, 0, false, "a"),
			prod(0, "t/0", 20, 30, Unknown, 0, 0, false, "b"),
			fetch(1, "t/0", 40, 50, 1, 1, false, recs(0, "a")...),
			fetch(1, "t/0", 60, 70, 1, 1, false, recs(0, "b")...),
		}, false},
		{"unknown and non-durable produces constrain nothing", []Op{
			prod(0, "t/0", 0, 10, OK, 0, 1, false, "a"),
			prod(1, "t/0", 0, 10, Unknown, 0, 0, false, "b"),
			prod(0, "t/0", 20, 30, OK, 0, 2, true, "c"),
			fetch(1, "t/0", 40, 50, 1, 2, false, recs(0, "c")...),
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{Ops: append([]Op{prod(5, "u/0", 0, 1, OK, 0, 1, true, "other")}, tc.ops...)}
			dir := t.TempDir()
			r, err := CheckPorcupine(h, testTimeout, dir, "run")
			if err != nil {
				t.Fatal(err)
			}
			if r.Unknown() {
				t.Fatalf("timed out: %s", r.String())
			}
			if r.OK() != tc.legal {
				t.Fatalf("%s, want legal=%v\n%s", r.String(), tc.legal, dump(h))
			}
			if tc.legal {
				if len(r.HTML) != 0 {
					t.Fatalf("visualization written for a legal history: %v", r.HTML)
				}
				return
			}
			if r.Log != porcupine.Illegal || !slices.Equal(r.IllegalTPs, []string{"t/0"}) {
				t.Fatalf("%s, want only t/0 illegal", r.String())
			}
			checkHTML(t, r.HTML, filepath.Join(dir, "run-log.html"))
		})
	}
}

// TestPorcupineTopics checks TopicModel, including Unknown outcomes that may
// or may not have taken effect, and error replies recorded as OK with Err.
func TestPorcupineTopics(t *testing.T) {
	cases := []struct {
		name  string
		ops   []Op
		legal bool
	}{
		{"create, exists, delete, unknown", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, OK, ""),
			topicOp(1, CreateTopic, "t", 20, 30, OK, CodeTopicAlreadyExists),
			topicOp(0, DeleteTopic, "t", 40, 50, OK, ""),
			topicOp(1, DeleteTopic, "t", 60, 70, Failed, CodeUnknownTopic),
			topicOp(0, CreateTopic, "t", 80, 90, Failed, "NOT_LEADER"),
		}, true},
		{"unknown create took effect", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, Unknown, ""),
			topicOp(1, DeleteTopic, "t", 20, 30, OK, ""),
		}, true},
		{"unknown create did not take effect", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, Unknown, ""),
			topicOp(1, DeleteTopic, "t", 20, 30, OK, CodeUnknownTopic),
		}, true},
		{"unknown create takes effect late", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, Unknown, ""),
			topicOp(1, DeleteTopic, "t", 20, 30, OK, CodeUnknownTopic),
			topicOp(1, CreateTopic, "t", 40, 50, OK, CodeTopicAlreadyExists),
		}, true},
		{"unknown delete either way", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, OK, ""),
			topicOp(0, DeleteTopic, "t", 20, 30, Unknown, ""),
			topicOp(1, CreateTopic, "t", 40, 50, OK, CodeTopicAlreadyExists),
		}, true},
		{"delete twice", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, OK, ""),
			topicOp(0, DeleteTopic, "t", 20, 30, OK, ""),
			topicOp(1, DeleteTopic, "t", 40, 50, OK, ""),
		}, false},
		{"create twice", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, OK, ""),
			topicOp(1, CreateTopic, "t", 20, 30, OK, ""),
		}, false},
		{"exists before any create", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, OK, CodeTopicAlreadyExists),
			topicOp(1, CreateTopic, "t", 20, 30, OK, ""),
		}, false},
		{"concurrent creates: one wins", []Op{
			topicOp(0, CreateTopic, "t", 0, 10, OK, CodeTopicAlreadyExists),
			topicOp(1, CreateTopic, "t", 5, 30, OK, ""),
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{Ops: append([]Op{topicOp(5, CreateTopic, "other", 0, 1, OK, "")}, tc.ops...)}
			dir := t.TempDir()
			r, err := CheckPorcupine(h, testTimeout, dir, "run")
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != tc.legal || r.Unknown() {
				t.Fatalf("%s, want legal=%v\n%s", r.String(), tc.legal, dump(h))
			}
			if tc.legal {
				return
			}
			if r.Topics != porcupine.Illegal || !slices.Equal(r.IllegalTopics, []string{"t"}) {
				t.Fatalf("%s, want only topic t illegal", r.String())
			}
			checkHTML(t, r.HTML, filepath.Join(dir, "run-topics.html"))
		})
	}
}

// TestPorcupineNoVizDir checks that an illegal history writes nothing
// without a vizDir.
func TestPorcupineNoVizDir(t *testing.T) {
	h := &History{Ops: []Op{
		prod(0, "t/0", 0, 10, OK, 0, 1, true, "a"),
		prod(1, "t/0", 5, 15, OK, 0, 1, true, "b"),
	}}
	r, err := CheckPorcupine(h, testTimeout, "", "run")
	if err != nil || r.OK() || len(r.HTML) != 0 {
		t.Fatalf("%s, err %v", r.String(), err)
	}
}

func checkHTML(t *testing.T, got []string, want string) {
	t.Helper()
	if !slices.Equal(got, []string{want}) {
		t.Fatalf("html = %v, want [%s]", got, want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 1000 {
		t.Fatalf("%s is only %d bytes", want, fi.Size())
	}
}
