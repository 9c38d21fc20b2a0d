package sm

import (
	"reflect"
	"strings"
	"testing"
)

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

// Every request a client may send has an answer for a revoked
// certificate (RefuseRevoked), of the kind that answers it, with the
// request's ID, CodeCertificateRevoked and the hint: a new client request
// kind must be added there.
func TestRefuseRevokedCoversClientRequests(t *testing.T) {
	requests := []Message{ProduceRequest{ReqID: 7}, FetchRequest{ReqID: 7}, ListOffsetsRequest{ReqID: 7}, MetadataRequest{ReqID: 7},
		CreateTopicRequest{ReqID: 7}, DeleteTopicRequest{ReqID: 7}, AlterTopicConfigRequest{ReqID: 7}, ClusterStatusRequest{ReqID: 7},
		ACLRequest{ReqID: 7}, CertRequest{ReqID: 7},
		FindCoordinatorRequest{ReqID: 7}, JoinGroupRequest{ReqID: 7}, SyncGroupRequest{ReqID: 7}, HeartbeatRequest{ReqID: 7},
		LeaveGroupRequest{ReqID: 7}, OffsetCommitRequest{ReqID: 7}, OffsetFetchRequest{ReqID: 7}, ListGroupsRequest{ReqID: 7},
		DescribeGroupsRequest{ReqID: 7}, DeleteGroupsRequest{ReqID: 7}, InitProducerIDRequest{ReqID: 7}}
	answers := map[MsgKind]MsgKind{}
	for _, m := range requests {
		reply, ok := RefuseRevoked(m, "ab12", 3)
		if !ok {
			t.Fatalf("%v: no answer for a revoked certificate", m.Kind())
		}
		answers[m.Kind()] = reply.Kind()
		if want := strings.TrimSuffix(m.Kind().String(), "Request") + "Response"; reply.Kind().String() != want {
			t.Errorf("%v answered with %v, want %s", m.Kind(), reply.Kind(), want)
		}
		if !MaySend(RoleBroker, reply.Kind()) && !MaySend(RoleController, reply.Kind()) {
			t.Errorf("%v answered with %v, which no server may send", m.Kind(), reply.Kind())
		}
		v := reflect.ValueOf(reply)
		if id := v.FieldByName("ReqID").Uint(); id != 7 {
			t.Errorf("%v: answer has request ID %d, want 7", m.Kind(), id)
		}
		if c := Code(v.FieldByName("Code").Uint()); c != CodeCertificateRevoked {
			t.Errorf("%v: answer has code %v", m.Kind(), c)
		}
		if f := v.FieldByName("LeaderHint"); f.IsValid() && NodeID(f.Uint()) != 3 {
			h := NodeID(f.Uint())
			t.Errorf("%v: answer has hint %v", m.Kind(), h)
		}
		if f := v.FieldByName("Message"); f.IsValid() && !strings.Contains(f.String(), "certificate ab12 is revoked") {
			t.Errorf("%v: answer message %q does not name the certificate", m.Kind(), f.String())
		}
	}
	for _, k := range MsgKinds() {
		if MaySend(RoleClient, k) {
			if _, ok := answers[k]; !ok {
				t.Errorf("%v: a client may send it, but the test has no such request: add it (and to RefuseRevoked)", k)
			}
		}
	}
	if _, ok := RefuseRevoked(RaftMessage{}, "ab12", 3); ok {
		t.Error("a raft message got a revoked-certificate answer")
	}
}
