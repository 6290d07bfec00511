package consensus

import "encoding/binary"

// readRequest is one ReadIndex request on the leader.
type readRequest struct {
	from  NodeID // who asked (self or a follower)
	id    uint64 // the caller's request id
	index uint64 // commit index when the request was accepted
	seq   uint64 // heartbeat context that confirms it
	acks  map[NodeID]bool
}

// readIndexState is the leader's queue of reads (thesis §6.4).
type readIndexState struct {
	// queued waits for the leader to commit an entry of its term.
	queued []readRequest
	// pending waits for a quorum to answer the heartbeat round; in seq order.
	pending []*readRequest
	// nextSeq numbers heartbeat rounds; it never resets, so a late answer
	// from an earlier round cannot confirm a later one.
	nextSeq uint64
}

func encodeReadID(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func decodeReadID(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// ReadIndex asks for a linearizable read point for requestID. On the leader
// the result arrives in a later Ready.ReadStates once a quorum has
// confirmed its leadership; a follower forwards the request to the leader.
// ErrNoLeader if no leader is known. A request that can no longer complete
// (leadership lost, leader changed) appears in Ready.DroppedReads.
func (r *Raft) ReadIndex(requestID uint64) error {
	defer r.checkInvariants()
	if r.role == Leader {
		r.handleReadIndex(r.id, requestID)
		return nil
	}
	if r.lead == None {
		return ErrNoLeader
	}
	r.forwarded = append(r.forwarded, requestID)
	r.send(Message{To: r.lead, Type: MsgReadIndex, Context: encodeReadID(requestID)})
	return nil
}

func (r *Raft) handleReadIndex(from NodeID, id uint64) {
	if !r.committedCurrentTerm() {
		r.reads.queued = append(r.reads.queued, readRequest{from: from, id: id})
		return
	}
	if len(r.conf.Voters) == 1 && r.conf.Voters[0] == r.id {
		r.completeRead(from, id, r.log.committed)
		return
	}
	r.reads.nextSeq++
	req := &readRequest{from: from, id: id, index: r.log.committed, seq: r.reads.nextSeq,
		acks: map[NodeID]bool{r.id: true}}
	r.reads.pending = append(r.reads.pending, req)
	r.bcastHeartbeat(encodeReadID(req.seq))
}

// lastPendingReadCtx is the heartbeat context of the newest read round
// awaiting confirmation, or nil.
func (r *Raft) lastPendingReadCtx() []byte {
	if n := len(r.reads.pending); n > 0 {
		return encodeReadID(r.reads.pending[n-1].seq)
	}
	return nil
}

func (r *Raft) releaseQueuedReads() {
	if !r.committedCurrentTerm() || len(r.reads.queued) == 0 {
		return
	}
	queued := r.reads.queued
	r.reads.queued = nil
	for _, q := range queued {
		r.handleReadIndex(q.from, q.id)
	}
}

// recvReadAck counts a heartbeat answer for the round ctx; once a quorum of
// voters has answered, that round and every earlier one complete.
func (r *Raft) recvReadAck(from NodeID, ctx []byte) {
	seq, ok := decodeReadID(ctx)
	if !ok {
		return
	}
	k := -1
	for i, req := range r.reads.pending {
		if req.seq == seq {
			req.acks[from] = true
			n := 0
			for _, v := range r.conf.Voters {
				if req.acks[v] {
					n++
				}
			}
			if n > len(r.conf.Voters)/2 {
				k = i
			}
			break
		}
	}
	if k < 0 {
		return
	}
	done := r.reads.pending[:k+1]
	r.reads.pending = append([]*readRequest(nil), r.reads.pending[k+1:]...)
	for _, req := range done {
		r.completeRead(req.from, req.id, req.index)
	}
}

func (r *Raft) completeRead(from NodeID, id, index uint64) {
	if from == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestID: id})
		return
	}
	r.send(Message{To: from, Type: MsgReadIndexResp, Index: index, Context: encodeReadID(id)})
}

// dropPendingReads fails every read this node was serving as leader: a
// deposed leader must never complete one.
func (r *Raft) dropPendingReads() {
	for _, q := range r.reads.queued {
		if q.from == r.id {
			r.droppedReads = append(r.droppedReads, q.id)
		}
	}
	for _, req := range r.reads.pending {
		if req.from == r.id {
			r.droppedReads = append(r.droppedReads, req.id)
		}
	}
	r.reads.queued, r.reads.pending = nil, nil
}

func (r *Raft) dropForwardedReads() {
	r.droppedReads = append(r.droppedReads, r.forwarded...)
	r.forwarded = nil
}

func (r *Raft) handleReadIndexResp(m Message) {
	id, ok := decodeReadID(m.Context)
	if !ok {
		return
	}
	for i, f := range r.forwarded {
		if f == id {
			r.forwarded = append(r.forwarded[:i], r.forwarded[i+1:]...)
			r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestID: id})
			return
		}
	}
}
