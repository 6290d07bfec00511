package sessions

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
)

// SecretSize is the size in bytes of a session secret.
const SecretSize = 32

// Owner is who may act on a session: the principal that opened it and the
// SHA-256 of the secret the client chose when it opened it. The table
// keeps only the hash, never the secret.
type Owner struct {
	// Principal is the authenticated name of the client ("" on a cluster
	// without authentication, where every client is anonymous).
	Principal string
	// SecretHash is HashSecret of the session secret. Empty only for a
	// session opened before sessions had secrets: see authorize.
	SecretHash []byte
}

// HashSecret returns the SHA-256 of a session secret, as Owner keeps it.
func HashSecret(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

func (o Owner) clone() Owner {
	return Owner{Principal: o.Principal, SecretHash: slices.Clone(o.SecretHash)}
}

// Authorize reports whether who may act on the open session id: nil, the
// error of Check if it is not open, ErrSessionNotOwned if who.Principal
// is not its owner, or ErrBadSessionSecret if who.SecretHash is not its
// secret's. It changes nothing.
func (t *Table) Authorize(id ID, who Owner) error {
	s, ok := t.sessions[id]
	if !ok {
		return t.Check(id)
	}
	return s.authorize(who)
}

// authorize compares who with the session's owner. The comparison is
// exact: a session opened before sessions had owners and secrets has an
// empty principal and hash, so it matches only a request that carries
// neither, which is what an entry of that older log holds (its replay
// gives the same state) and what no current server proposes (it always
// hashes the secret the client sent, even an empty one). Such a session is
// thus unusable from now on and expires within its TTL.
func (s *session) authorize(who Owner) error {
	if who.Principal != s.owner.Principal {
		return fmt.Errorf("%w: session %d", ErrSessionNotOwned, s.id)
	}
	if len(who.SecretHash) != len(s.owner.SecretHash) ||
		subtle.ConstantTimeCompare(who.SecretHash, s.owner.SecretHash) != 1 {
		return fmt.Errorf("%w: session %d", ErrBadSessionSecret, s.id)
	}
	return nil
}
