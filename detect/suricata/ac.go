package suricata

// acMatcher is an Aho-Corasick automaton over lower-cased bytes, compiled
// to a dense DFA on a compressed alphabet (only the bytes that occur in
// patterns get their own class; every other byte shares class 0).
type acMatcher struct {
	class   [256]uint8
	nclass  int
	delta   []int32 // state*nclass + class -> next state
	out     [][]int32
	outLink []int32 // next state (via failure links) with outputs; -1: none
}

func newAC(pats [][]byte) *acMatcher {
	m := &acMatcher{}
	n := 1
	for _, p := range pats {
		for _, c := range p {
			if m.class[c] == 0 {
				if n == 256 {
					continue // cannot happen: at most 255 distinct lower-cased bytes plus class 0
				}
				m.class[c] = uint8(n)
				n++
			}
		}
	}
	// Upper-case letters share the class of their lower-case letter.
	for c := 'A'; c <= 'Z'; c++ {
		m.class[c] = m.class[c+'a'-'A']
	}
	m.nclass = n
	// Trie with sparse children first.
	type node struct {
		next map[uint8]int32
		fail int32
	}
	nodes := []node{{next: map[uint8]int32{}}}
	m.out = [][]int32{nil}
	for pi, p := range pats {
		s := int32(0)
		for _, c := range p {
			cl := m.class[c]
			nx, ok := nodes[s].next[cl]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint8]int32{}})
				m.out = append(m.out, nil)
				nodes[s].next[cl] = nx
			}
			s = nx
		}
		m.out[s] = append(m.out[s], int32(pi))
	}
	ns := len(nodes)
	m.delta = make([]int32, ns*n)
	m.outLink = make([]int32, ns)
	for i := range m.outLink {
		m.outLink[i] = -1
	}
	// BFS to fill the DFA.
	queue := make([]int32, 0, ns)
	for cl := 0; cl < n; cl++ {
		if nx, ok := nodes[0].next[uint8(cl)]; ok {
			m.delta[cl] = nx
			nodes[nx].fail = 0
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		if len(m.out[f]) > 0 {
			m.outLink[s] = f
		} else {
			m.outLink[s] = m.outLink[f]
		}
		for cl := 0; cl < n; cl++ {
			if nx, ok := nodes[s].next[uint8(cl)]; ok {
				nodes[nx].fail = m.delta[int(f)*n+cl]
				m.delta[int(s)*n+cl] = nx
				queue = append(queue, nx)
			} else {
				m.delta[int(s)*n+cl] = m.delta[int(f)*n+cl]
			}
		}
	}
	return m
}

// scan calls fn with the index of every pattern occurring in b
// (case-insensitively; possibly more than once).
func (m *acMatcher) scan(b []byte, fn func(int32)) {
	s := int32(0)
	n := m.nclass
	for _, c := range b {
		s = m.delta[int(s)*n+int(m.class[c])]
		for t := s; t > 0; t = m.outLink[t] {
			for _, p := range m.out[t] {
				fn(p)
			}
		}
	}
}
