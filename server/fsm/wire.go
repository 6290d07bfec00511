package fsm

import (
	"math"

	"github.com/lockd/lockd/internal/mp"
	"github.com/lockd/lockd/locks"
)

// The hot commands (the envelope, Acquire and Release bodies) and the
// Result are encoded and decoded here by hand (package mp), without
// reflection: every node decodes every entry, and go-msgpack's reflective
// path was most of the FSM's cost. The bytes are exactly go-msgpack's
// under the command handle, so entries written by either path decode the
// same by both; fsm_wire_test.go checks that against go-msgpack for random
// values.
//
// Decoding takes the layout go-msgpack writes and nothing else: a map with
// the type's own field names. Anything else (an unknown field, a nil, a
// float) reports false, and the caller falls back to go-msgpack, which
// remains the definition of what decodes.

func appendCommand(b []byte, c *Command) []byte {
	b = mp.AppendMapLen(b, 8)
	b = mp.AppendBin(mp.AppendStr(b, "Body"), c.Body)
	b = mp.AppendUint(mp.AppendStr(b, "LowestUnanswered"), c.LowestUnanswered)
	b = mp.AppendStr(mp.AppendStr(b, "Principal"), c.Principal)
	b = mp.AppendBin(mp.AppendStr(b, "SecretHash"), c.SecretHash)
	b = mp.AppendUint(mp.AppendStr(b, "Seq"), c.Seq)
	b = mp.AppendUint(mp.AppendStr(b, "Session"), c.Session)
	b = mp.AppendInt(mp.AppendStr(b, "Time"), c.Time)
	return mp.AppendUint(mp.AppendStr(b, "Type"), uint64(c.Type))
}

// decodeCommandFast decodes what appendCommand writes, and the six-field
// envelope of entries written before Principal and SecretHash existed;
// Body and SecretHash alias data.
func decodeCommandFast(data []byte) (Command, bool) {
	r := mp.NewReader(data)
	var c Command
	for n := r.MapLen(); n > 0 && r.OK(); n-- {
		switch string(r.StrBytes()) {
		case "Body":
			c.Body = r.Bin()
		case "LowestUnanswered":
			c.LowestUnanswered = r.Uint(math.MaxUint64)
		case "Principal":
			c.Principal = r.Str()
		case "SecretHash":
			c.SecretHash = r.Bin()
		case "Seq":
			c.Seq = r.Uint(math.MaxUint64)
		case "Session":
			c.Session = r.Uint(math.MaxUint64)
		case "Time":
			c.Time = r.Int()
		case "Type":
			c.Type = CommandType(r.Uint(math.MaxUint8))
		default:
			r.Fail()
		}
	}
	return c, r.Done()
}

func appendAcquireBody(b []byte, a *AcquireBody) []byte {
	b = mp.AppendMapLen(b, 5)
	b = mp.AppendInt(mp.AppendStr(b, "LockDelay"), a.LockDelay)
	b = mp.AppendUint(mp.AppendStr(b, "Mode"), uint64(a.Mode))
	b = mp.AppendStr(mp.AppendStr(b, "Name"), a.Name)
	b = mp.AppendBin(mp.AppendStr(b, "Value"), a.Value)
	return mp.AppendBool(mp.AppendStr(b, "Wait"), a.Wait)
}

// decodeAcquireBodyFast decodes what appendAcquireBody writes; Value is a
// copy (the FSM keeps it).
func decodeAcquireBodyFast(data []byte, a *AcquireBody) bool {
	r := mp.NewReader(data)
	var v AcquireBody
	for n := r.MapLen(); n > 0 && r.OK(); n-- {
		switch string(r.StrBytes()) {
		case "LockDelay":
			v.LockDelay = r.Int()
		case "Mode":
			v.Mode = locks.Mode(r.Uint(math.MaxUint8))
		case "Name":
			v.Name = r.Str()
		case "Value":
			v.Value = r.BinCopy()
		case "Wait":
			v.Wait = r.Bool()
		default:
			r.Fail()
		}
	}
	if !r.Done() {
		return false
	}
	*a = v
	return true
}

func appendReleaseBody(b []byte, rb *ReleaseBody) []byte {
	b = mp.AppendMapLen(b, 2)
	b = mp.AppendStr(mp.AppendStr(b, "Name"), rb.Name)
	return mp.AppendUint(mp.AppendStr(b, "Token"), rb.Token)
}

func decodeReleaseBodyFast(data []byte, rb *ReleaseBody) bool {
	r := mp.NewReader(data)
	var v ReleaseBody
	for n := r.MapLen(); n > 0 && r.OK(); n-- {
		switch string(r.StrBytes()) {
		case "Name":
			v.Name = r.Str()
		case "Token":
			v.Token = r.Uint(math.MaxUint64)
		default:
			r.Fail()
		}
	}
	if !r.Done() {
		return false
	}
	*rb = v
	return true
}

func appendStoredResult(b []byte, res *storedResult) []byte {
	b = mp.AppendMapLen(b, 10)
	b = mp.AppendUint(mp.AppendStr(b, "Code"), uint64(res.Code))
	b = mp.AppendBool(mp.AppendStr(b, "Duplicate"), res.Duplicate)
	b = mp.AppendBool(mp.AppendStr(b, "Granted"), res.Granted)
	b = mp.AppendStr(mp.AppendStr(b, "Message"), res.Message)
	b = mp.AppendInt(mp.AppendStr(b, "Position"), int64(res.Position))
	b = mp.AppendBool(mp.AppendStr(b, "Queued"), res.Queued)
	b = mp.AppendUint(mp.AppendStr(b, "QueuedIndex"), res.QueuedIndex)
	b = mp.AppendUint(mp.AppendStr(b, "Session"), res.Session)
	b = mp.AppendInt(mp.AppendStr(b, "TTL"), res.TTL)
	return mp.AppendUint(mp.AppendStr(b, "Token"), res.Token)
}
