package sim

import (
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/group/assign"
)

// TestGroupsRun runs DefaultConfig seeds with the group workload: they
// pass, and together reach the group paths.
func TestGroupsRun(t *testing.T) {
	reached := map[string]int{}
	for _, seed := range []uint64{1, 2, 3, 4} {
		cfg := DefaultConfig(seed)
		cfg.Groups = DefaultGroupWorkload()
		res := Run(cfg)
		if res.Err != nil {
			t.Fatalf("seed %d: %v", seed, res.Err)
		}
		for k, v := range res.Stats.Reached {
			reached[k] += v
		}
	}
	for _, p := range []string{sm.ProbeOffsetsTopicCreateRequested.String(), sm.ProbeCoordinatorLoaded.String(), sm.ProbeGroupRebalanced.String(),
		"group join MEMBER_ID_REQUIRED", "group synced", "group committed", "group consumed to the high watermark"} {
		if reached[p] == 0 {
			t.Errorf("%q never reached", p)
		}
	}
}

// TestGroupsOff: a config without groups runs no member and hosts no
// coordinator.
func TestGroupsOff(t *testing.T) {
	res := Run(DefaultConfig(1))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for k := range res.Stats.Reached {
		if strings.HasPrefix(k, "group") || strings.Contains(k, "coordinator") || strings.Contains(k, "offsets-topic") {
			t.Errorf("a run without groups reached %q", k)
		}
	}
}

// TestCanaryGroupCommitAhead plants members that now and then commit one
// past what they read, and requires the group checker to catch it (and
// the same seed to pass without it).
func TestCanaryGroupCommitAhead(t *testing.T) {
	const budget = 20
	for seed := uint64(1); seed <= budget; seed++ {
		cfg := DefaultConfig(seed)
		cfg.Groups = DefaultGroupWorkload()
		cfg.Groups.CanaryCommitAhead = true
		if res := Run(cfg); res.Err != nil {
			if !strings.Contains(res.Err.Error(), "groups:") || !strings.Contains(res.Err.Error(), "neither read offset") {
				t.Fatalf("seed %d failed for another reason: %v", seed, res.Err)
			}
			t.Logf("canary caught at seed %d: %v", seed, firstLine(res.Err.Error()))
			cfg.Groups.CanaryCommitAhead = false
			if res := Run(cfg); res.Err != nil {
				t.Fatalf("seed %d fails without the canary too: %v", seed, res.Err)
			}
			return
		}
	}
	t.Fatalf("commit-ahead canary not caught in %d seeds", budget)
}

func tps(ps ...int32) []sm.TopicPartition {
	var out []sm.TopicPartition
	for _, p := range ps {
		out = append(out, sm.TopicPartition{Topic: "t0", Partition: p})
	}
	return out
}

func newFacts(assignor string) *groupFacts {
	return &groupFacts{id: "g", assignor: assignor, tps: tps(0, 1),
		syncs: map[int32]map[string][]sm.TopicPartition{}, leaders: map[int32]map[string][]sm.TopicPartition{},
		commits: map[sm.TopicPartition][]okCommit{}, values: map[sm.TopicPartition]map[sm.Offset]string{},
		skipped: map[sm.TopicPartition][][2]sm.Offset{}, fetched: map[sm.TopicPartition]sm.Offset{}}
}

// TestGroupCheckerOwners: (a) two owners of one partition in a generation,
// a member given something else than the leader stored, and a member
// given two assignments in one generation are caught; owners in
// different generations are not.
func TestGroupCheckerOwners(t *testing.T) {
	f := newFacts(assign.RangeName)
	leader := map[string][]sm.TopicPartition{"a": tps(0), "b": tps(1)}
	if err := f.noteSync(1, "a", tps(0), leader); err != nil {
		t.Fatal(err)
	}
	if err := f.noteSync(1, "b", tps(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.noteSync(2, "b", tps(0, 1), nil); err != nil {
		t.Fatalf("another generation: %v", err)
	}
	if err := f.noteSync(2, "c", tps(1), nil); err == nil || !strings.Contains(err.Error(), "owned by both b and c") {
		t.Fatalf("two owners: %v", err)
	}
	g := newFacts(assign.RangeName)
	if err := g.noteSync(3, "a", tps(0), leader); err != nil {
		t.Fatal(err)
	}
	if err := g.noteSync(3, "b", nil, nil); err == nil || !strings.Contains(err.Error(), "but the leader assigned it t0/1") {
		t.Fatalf("a member given less than the leader stored: %v", err)
	}
	h := newFacts(assign.RangeName)
	if err := h.noteSync(4, "b", tps(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := h.noteSync(4, "b", tps(0), nil); err == nil || !strings.Contains(err.Error(), "and then") {
		t.Fatalf("two assignments: %v", err)
	}
}

func commitReq(gen int32, member string, tp sm.TopicPartition, o sm.Offset, hist *memberHist) *memberReq {
	return &memberReq{msg: sm.OffsetCommitRequest{GroupID: "g", Generation: gen, MemberID: member, Offsets: []sm.OffsetCommit{{TP: tp, Offset: o}}},
		offsets: map[sm.TopicPartition]sm.Offset{tp: o}, gen: gen, hist: hist}
}

// TestGroupCheckerCommits: (b) a commit of an offset the member neither
// read up to nor was given, and one from a member that does not own the
// partition in its generation, are caught; a revoked partition's commit
// (cooperative, nobody holding it) is not; (c) an offset fetch below an
// earlier OK commit is caught.
func TestGroupCheckerCommits(t *testing.T) {
	w := &World{}
	m := &member{w: w, id: groupMemberBase}
	tp := tps(0)[0]
	f := newFacts(assign.CooperativeStickyName)
	if err := f.noteSync(1, "a", tps(0), nil); err != nil {
		t.Fatal(err)
	}
	hist := newMemberHist()
	addOffset(hist.given, tp, 5)
	addOffset(hist.delivered, tp, 5)
	addOffset(hist.delivered, tp, 6)
	for _, o := range []sm.Offset{5, 6, 7} {
		if err := f.noteCommit(w, firstBrokerID, tp, o, commitReq(1, "a", tp, o, hist), m); err != nil {
			t.Fatalf("commit %d: %v", o, err)
		}
	}
	if err := f.noteCommit(w, firstBrokerID, tp, 9, commitReq(1, "a", tp, 9, hist), m); err == nil || !strings.Contains(err.Error(), "neither read offset 8") {
		t.Fatalf("commit ahead: %v", err)
	}
	if err := f.noteCommit(w, firstBrokerID, tp, 6, commitReq(1, "b", tp, 6, hist), m); err == nil || !strings.Contains(err.Error(), "does not own") {
		t.Fatalf("commit by a non-owner: %v", err)
	}
	// Cooperative: b had t0/1 in generation 1; in generation 2 nobody has
	// it and b commits it as it gives it up.
	tp1 := tps(1)[0]
	addOffset(hist.given, tp1, 3)
	if err := f.noteSync(2, "a", tps(0), nil); err != nil {
		t.Fatal(err)
	}
	rv := commitReq(2, "b", tp1, 3, hist)
	rv.revoke, rv.prevOwned = true, tps(1)
	if err := f.noteCommit(w, firstBrokerID, tp1, 3, rv, m); err != nil {
		t.Fatalf("revoked partition's commit: %v", err)
	}
	if err := f.noteSync(2, "c", tps(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.noteCommit(w, firstBrokerID, tp1, 3, rv, m); err == nil || !strings.Contains(err.Error(), "does not own") {
		t.Fatalf("revoked partition's commit while c holds it: %v", err)
	}
	// (c): commits of 7 answered at t=0; a fetch sent later must see 7.
	w.now = 10
	f.noteFetched(w, firstBrokerID, tp, 7, 5, m)
	if w.failure != nil {
		t.Fatalf("fetch at the committed offset: %v", w.failure)
	}
	f.noteFetched(w, firstBrokerID, tp, 6, 5, m)
	if w.failure == nil || !strings.Contains(w.failure.Error(), "fetched the committed offset of t0/0") {
		t.Fatalf("fetch below an OK commit: %v", w.failure)
	}
}
