package inventory

import "github.com/tlsentry/tlsentry/session"

// Facts is the observation as the session carries it (session.Inventory):
// what rules read and the items the encoder writes.
// When nothing was new it is one of two shared values (read-only, like
// the session): the common case allocates nothing.
func (o Observation) Facts() *session.Inventory {
	if len(o.Items) == 0 && o.ServerCertificate == nil {
		if o.Learning {
			return &nothingNewLearning
		}
		return &nothingNew
	}
	f := &session.Inventory{Learning: o.Learning, NewCertificate: o.NewCertificate}
	for _, it := range o.Items {
		switch it.Kind {
		case ClientJA4:
			f.NewClientJA4 = !o.Learning
		case ClientJA3:
			f.NewClientJA3 = !o.Learning
		}
	}
	if ch := o.ServerCertificate; ch != nil {
		f.NewServerCertificate = true
		f.Change = ch.Change.String()
		f.ChangeReasons = ch.Reasons.Strings()
		if ch.Previous != nil {
			f.PreviousIssuer, f.PreviousSHA256 = ch.Previous.Issuer, ch.Previous.SHA256
		}
	}
	if len(o.Items) > 0 {
		f.Items = make([]session.InventoryItem, len(o.Items))
		for i := range o.Items {
			f.Items[i] = o.Items[i].Document()
		}
	}
	return f
}

var nothingNew, nothingNewLearning = session.Inventory{}, session.Inventory{Learning: true}

// Document is the item as a tlsentry.inventory document describes it.
func (it *Item) Document() session.InventoryItem {
	d := session.InventoryItem{
		Kind:      it.Kind.String(),
		Value:     it.Value,
		Server:    it.Server,
		SNI:       it.SNI,
		FirstSeen: it.FirstSeen,
		LastSeen:  it.LastSeen,
		Count:     it.Count,
	}
	if c := it.Certificate; c != nil {
		d.Certificate = &session.InventoryCertificate{
			SHA256: c.SHA256, Subject: c.Subject, Issuer: c.Issuer,
			NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			AlternativeNames: c.AlternativeNames, SelfSigned: c.SelfSigned,
		}
	}
	return d
}
