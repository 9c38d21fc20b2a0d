package sm

import "testing"

// A new message kind must say who may send it: a kind nobody may send
// would be dropped by every node.
func TestSendersCoverEveryKind(t *testing.T) {
	for _, k := range MsgKinds() {
		if senders[k] == 0 {
			t.Errorf("%v: no role may send it; add it to senders", k)
		}
		if senders[k]&(1<<RoleNone) != 0 {
			t.Errorf("%v: RoleNone may send it", k)
		}
	}
}

func TestMaySend(t *testing.T) {
	for _, c := range []struct {
		r    Role
		k    MsgKind
		want bool
	}{
		{RoleClient, KindProduceRequest, true},
		{RoleAdmin, KindCreateTopicRequest, true},
		{RoleClient, KindRaftMessage, false},
		{RoleClient, KindReplicaFetchRequest, false},
		{RoleClient, KindBrokerHeartbeat, false},
		{RoleClient, KindAlterISRRequest, false},
		{RoleClient, KindCommitSegmentRequest, false},
		{RoleClient, KindProduceResponse, false},
		{RoleBroker, KindRaftMessage, false},
		{RoleBroker, KindReplicaFetchRequest, true},
		{RoleBroker, KindAlterISRResponse, false},
		{RoleController, KindRaftMessage, true},
		{RoleController, KindReplicaFetchRequest, false},
		{RoleNone, KindProduceRequest, false},
		{Role(9), KindProduceRequest, false},
		{RoleClient, MsgKind(0), false},
		{RoleClient, MsgKind(250), false},
	} {
		if got := MaySend(c.r, c.k); got != c.want {
			t.Errorf("MaySend(%v, %v) = %v, want %v", c.r, c.k, got, c.want)
		}
	}
	if SenderAllowed(ClientIDMin, RaftMessage{}) || !SenderAllowed(1, RaftMessage{}) {
		t.Error("SenderAllowed disagrees with the sender's role")
	}
}
