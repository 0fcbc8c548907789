package keys

// planAlg applies the policy to one algorithm. It reports whether a forced
// rotation happened.
func (p *planner) planAlg(alg Algorithm, wanted bool, force Force) (bool, error) {
	p.repair(alg)
	actives, nexts := p.indexes(alg, StateActive), p.indexes(alg, StateNext)
	if !wanted {
		for _, i := range append(actives, nexts...) {
			p.retire(i, "algorithm no longer configured")
		}
		return false, nil
	}
	if len(actives) == 0 && len(nexts) == 0 {
		// First start: nothing can have cached a kid yet, so the first key
		// signs at once, and a next key is published right away.
		i, err := p.generate(alg, "first key")
		if err != nil {
			return false, err
		}
		p.activate(i, "first key")
		_, err = p.generate(alg, "published ahead of the next rotation")
		return false, err
	}
	if force.Compromised {
		return true, p.rotateCompromised(alg, actives, nexts)
	}
	if len(nexts) == 0 {
		i, err := p.generate(alg, "published ahead of the next rotation")
		if err != nil {
			return false, err
		}
		nexts = []int{i}
	}
	next := nexts[0]
	if len(actives) == 0 {
		// A key set without a signer (e.g. an algorithm newly enabled while
		// its next key was kept): the next key signs once published.
		return false, p.activateWhenPublished(next, nil, "no active key")
	}
	active := actives[0]
	due := p.keys[active].ActivatedAt.Add(p.s.RotationPeriod)
	if !force.Requested && p.now.Before(due) {
		p.at(due)
		return false, nil
	}
	reason := "rotation period elapsed"
	if force.Requested {
		reason = "rotation requested"
	}
	published := p.keys[next].CreatedAt.Add(p.s.PublishAhead)
	if p.now.Before(published) {
		p.at(published)
		return false, nil
	}
	return true, p.activateWhenPublished(next, &active, reason)
}

// activateWhenPublished makes the next key active once published long enough,
// retires the old active key and publishes a fresh next key.
func (p *planner) activateWhenPublished(next int, active *int, reason string) error {
	published := p.keys[next].CreatedAt.Add(p.s.PublishAhead)
	if p.now.Before(published) {
		p.at(published)
		return nil
	}
	alg := p.keys[next].Algorithm
	if active != nil {
		p.retire(*active, reason)
	}
	p.activate(next, reason)
	_, err := p.generate(alg, "published ahead of the next rotation")
	p.at(p.now.Add(p.s.RotationPeriod))
	return err
}

// rotateCompromised removes the active key at once; the next key (or a new
// one) signs immediately.
func (p *planner) rotateCompromised(alg Algorithm, actives, nexts []int) error {
	for _, i := range actives {
		p.change(Removed, p.keys[i], "key compromised")
		p.keys[i].State = "" // marked for removal below
	}
	var next int
	if len(nexts) > 0 {
		next = nexts[0]
	} else {
		i, err := p.generate(alg, "replacing a compromised key")
		if err != nil {
			return err
		}
		next = i
	}
	p.activate(next, "previous key compromised")
	if _, err := p.generate(alg, "published ahead of the next rotation"); err != nil {
		return err
	}
	p.dropMarked()
	return nil
}

// repair brings a key set written by a crashed or racing writer back to one
// active and one next key: the most recently activated active key keeps
// signing, the others retire (tokens they signed still verify); extra next
// keys never signed anything and are removed, keeping the oldest.
func (p *planner) repair(alg Algorithm) {
	actives := p.indexes(alg, StateActive)
	if len(actives) > 1 {
		best := actives[0]
		for _, i := range actives[1:] {
			if p.keys[i].ActivatedAt.After(p.keys[best].ActivatedAt) {
				best = i
			}
		}
		for _, i := range actives {
			if i != best {
				p.retire(i, "more than one active key")
			}
		}
	}
	// indexes lists newest first: the oldest next key has been published
	// longest, so it is the one kept.
	nexts := p.indexes(alg, StateNext)
	if len(nexts) > 1 {
		for _, i := range nexts[:len(nexts)-1] {
			p.change(Removed, p.keys[i], "more than one next key")
			p.keys[i].State = ""
		}
		p.dropMarked()
	}
}

// removeExpired drops retired keys whose tokens have all expired.
func (p *planner) removeExpired() {
	for i := range p.keys {
		k := &p.keys[i]
		if k.State != StateRetired {
			continue
		}
		end := k.RetiredAt.Add(p.s.RetainAfterRetire)
		if !p.now.Before(end) {
			p.change(Removed, *k, "every token it signed has expired")
			k.State = ""
		} else {
			p.at(end)
		}
	}
	p.dropMarked()
}

func (p *planner) dropMarked() {
	out := p.keys[:0]
	for _, k := range p.keys {
		if k.State != "" {
			out = append(out, k)
		}
	}
	p.keys = out
}
