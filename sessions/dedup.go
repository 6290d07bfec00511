package sessions

import "fmt"

// MaxSeqAhead bounds how far above a session's mark a request's sequence
// number may lie: seq - mark < MaxSeqAhead. Since a request's
// lowestUnanswered is at most its own seq, one request moves the mark by
// less than MaxSeqAhead, and no client can push it to the end of the
// uint64 range in fewer than 2^32 requests.
const MaxSeqAhead = 1 << 32

// Digest identifies a request's content (its type and body): a kept
// response answers only a retry with the same digest. The zero Digest is
// that of a response kept before responses had digests, and matches any
// request.
type Digest [16]byte

// Begin looks a request up in the session's dedup window before it is
// applied. The request is (id, seq) with the given digest and carries the
// client's lowest unanswered sequence number. Begin changes nothing;
// Record, called after a successful apply, stores the response and moves
// the mark.
//
//   - the session is not open: the error of Check;
//   - seq is below max(mark, lowestUnanswered): ErrResponseForgotten;
//   - seq is MaxSeqAhead or more above the mark: ErrSequenceOutOfRange;
//   - a response for seq is kept: that response, duplicate == true, and the
//     request must not be applied again; if the kept response answered a
//     request with another digest, ErrSequenceReused instead;
//   - the session already keeps MaxResponses responses at or above the new
//     mark: ErrTooManyResponses;
//   - otherwise the request is new: apply it, then Record.
func (t *Table) Begin(id ID, seq, lowestUnanswered uint64, digest Digest) (response []byte, duplicate bool, err error) {
	s, ok := t.sessions[id]
	if !ok {
		return nil, false, t.Check(id)
	}
	mark := max(s.mark, lowestUnanswered)
	if seq < mark {
		return nil, false, fmt.Errorf("%w: session %d seq %d below mark %d", ErrResponseForgotten, id, seq, mark)
	}
	if seq-s.mark >= MaxSeqAhead { // seq >= mark >= s.mark: no wrap
		return nil, false, fmt.Errorf("%w: session %d seq %d is %d or more above mark %d", ErrSequenceOutOfRange,
			id, seq, uint64(MaxSeqAhead), s.mark)
	}
	if r, ok := s.responses[seq]; ok {
		if r.digest != (Digest{}) && r.digest != digest {
			return nil, false, fmt.Errorf("%w: session %d seq %d", ErrSequenceReused, id, seq)
		}
		return r.data, true, nil
	}
	if len(s.responses) >= t.cfg.MaxResponses {
		if n := s.keptFrom(mark); n >= t.cfg.MaxResponses {
			return nil, false, fmt.Errorf("%w: session %d keeps %d", ErrTooManyResponses, id, n)
		}
	}
	return nil, false, nil
}

// Record stores the response of request (id, seq) with its digest after it
// was applied, and
// moves the session's mark up to lowestUnanswered, dropping the responses
// below it. Record must follow a Begin that found the request new, with no
// other change to the session in between; anything else is a bug of the
// caller and panics.
func (t *Table) Record(id ID, seq, lowestUnanswered uint64, digest Digest, data []byte) {
	s, ok := t.sessions[id]
	if !ok {
		panic(fmt.Sprintf("sessions: record on session %d that is not open", id))
	}
	if lowestUnanswered > s.mark {
		s.mark = lowestUnanswered
		for q := range s.responses {
			if q < s.mark {
				delete(s.responses, q)
			}
		}
	}
	if seq < s.mark {
		panic(fmt.Sprintf("sessions: record of seq %d below mark %d", seq, s.mark))
	}
	if _, dup := s.responses[seq]; dup {
		panic(fmt.Sprintf("sessions: seq %d of session %d recorded twice", seq, id))
	}
	if len(s.responses) >= t.cfg.MaxResponses {
		panic(fmt.Sprintf("sessions: session %d over MaxResponses", id))
	}
	s.responses[seq] = response{digest: digest, data: data}
}

// keptFrom counts the responses at or above mark.
func (s *session) keptFrom(mark uint64) int {
	if mark <= s.mark {
		return len(s.responses)
	}
	n := 0
	for q := range s.responses {
		if q >= mark {
			n++
		}
	}
	return n
}
