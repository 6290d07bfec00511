package api

import (
	"math"

	"github.com/lockd/lockd/internal/mp"
)

// The messages of the hot path (acquire, release and their answers)
// encode and decode themselves (package mp) in exactly the bytes
// go-msgpack writes for them: the rpc codec uses AppendMsgpack and
// DecodeMsgpack when a message has them, and go-msgpack otherwise, or
// when DecodeMsgpack reports false for a layout it does not take (a field
// it does not know, say, from a newer peer). wire_test.go checks both
// directions against go-msgpack.

// AppendMsgpack appends the message's msgpack encoding to b.
func (m AcquireRequest) AppendMsgpack(b []byte) []byte {
	b = mp.AppendMapLen(b, 9)
	b = mp.AppendInt(mp.AppendStr(b, "LockDelay"), m.LockDelay)
	b = mp.AppendUint(mp.AppendStr(b, "LowestUnanswered"), m.LowestUnanswered)
	b = mp.AppendUint(mp.AppendStr(b, "Mode"), uint64(m.Mode))
	b = mp.AppendStr(mp.AppendStr(b, "Name"), m.Name)
	b = mp.AppendBin(mp.AppendStr(b, "Secret"), m.Secret)
	b = mp.AppendUint(mp.AppendStr(b, "Seq"), m.Seq)
	b = mp.AppendUint(mp.AppendStr(b, "Session"), m.Session)
	b = mp.AppendBin(mp.AppendStr(b, "Value"), m.Value)
	return mp.AppendBool(mp.AppendStr(b, "Wait"), m.Wait)
}

// DecodeMsgpack decodes what AppendMsgpack writes into m and reports
// whether it could; on false m is unchanged. Value and Secret are copies.
func (m *AcquireRequest) DecodeMsgpack(data []byte) bool {
	r := mp.NewReader(data)
	var v AcquireRequest
	for n := r.MapLen(); n > 0 && r.OK(); n-- {
		switch string(r.StrBytes()) {
		case "LockDelay":
			v.LockDelay = r.Int()
		case "LowestUnanswered":
			v.LowestUnanswered = r.Uint(math.MaxUint64)
		case "Mode":
			v.Mode = Mode(r.Uint(math.MaxUint8))
		case "Name":
			v.Name = r.Str()
		case "Secret":
			v.Secret = r.BinCopy()
		case "Seq":
			v.Seq = r.Uint(math.MaxUint64)
		case "Session":
			v.Session = r.Uint(math.MaxUint64)
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
	*m = v
	return true
}

// AppendMsgpack appends the message's msgpack encoding to b.
func (m AcquireResponse) AppendMsgpack(b []byte) []byte {
	b = mp.AppendMapLen(b, 5)
	b = mp.AppendBool(mp.AppendStr(b, "Granted"), m.Granted)
	b = mp.AppendInt(mp.AppendStr(b, "Position"), int64(m.Position))
	b = mp.AppendBool(mp.AppendStr(b, "Queued"), m.Queued)
	b = mp.AppendUint(mp.AppendStr(b, "QueuedIndex"), m.QueuedIndex)
	return mp.AppendUint(mp.AppendStr(b, "Token"), m.Token)
}

// DecodeMsgpack decodes what AppendMsgpack writes into m and reports
// whether it could; on false m is unchanged.
func (m *AcquireResponse) DecodeMsgpack(data []byte) bool {
	r := mp.NewReader(data)
	var v AcquireResponse
	for n := r.MapLen(); n > 0 && r.OK(); n-- {
		switch string(r.StrBytes()) {
		case "Granted":
			v.Granted = r.Bool()
		case "Position":
			i := r.Int()
			if i < math.MinInt || i > math.MaxInt {
				r.Fail()
			}
			v.Position = int(i)
		case "Queued":
			v.Queued = r.Bool()
		case "QueuedIndex":
			v.QueuedIndex = r.Uint(math.MaxUint64)
		case "Token":
			v.Token = r.Uint(math.MaxUint64)
		default:
			r.Fail()
		}
	}
	if !r.Done() {
		return false
	}
	*m = v
	return true
}

// AppendMsgpack appends the message's msgpack encoding to b.
func (m ReleaseRequest) AppendMsgpack(b []byte) []byte {
	b = mp.AppendMapLen(b, 6)
	b = mp.AppendUint(mp.AppendStr(b, "LowestUnanswered"), m.LowestUnanswered)
	b = mp.AppendStr(mp.AppendStr(b, "Name"), m.Name)
	b = mp.AppendBin(mp.AppendStr(b, "Secret"), m.Secret)
	b = mp.AppendUint(mp.AppendStr(b, "Seq"), m.Seq)
	b = mp.AppendUint(mp.AppendStr(b, "Session"), m.Session)
	return mp.AppendUint(mp.AppendStr(b, "Token"), m.Token)
}

// DecodeMsgpack decodes what AppendMsgpack writes into m and reports
// whether it could; on false m is unchanged.
func (m *ReleaseRequest) DecodeMsgpack(data []byte) bool {
	r := mp.NewReader(data)
	var v ReleaseRequest
	for n := r.MapLen(); n > 0 && r.OK(); n-- {
		switch string(r.StrBytes()) {
		case "LowestUnanswered":
			v.LowestUnanswered = r.Uint(math.MaxUint64)
		case "Name":
			v.Name = r.Str()
		case "Secret":
			v.Secret = r.BinCopy()
		case "Seq":
			v.Seq = r.Uint(math.MaxUint64)
		case "Session":
			v.Session = r.Uint(math.MaxUint64)
		case "Token":
			v.Token = r.Uint(math.MaxUint64)
		default:
			r.Fail()
		}
	}
	if !r.Done() {
		return false
	}
	*m = v
	return true
}

// AppendMsgpack appends the message's msgpack encoding (an empty map).
func (Empty) AppendMsgpack(b []byte) []byte { return mp.AppendMapLen(b, 0) }

// DecodeMsgpack takes an empty map; anything else reports false.
func (*Empty) DecodeMsgpack(data []byte) bool {
	r := mp.NewReader(data)
	return r.MapLen() == 0 && r.Done()
}
