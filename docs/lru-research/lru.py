# Faithful re-implementation (for checking the note) of kernel/bpf/bpf_lru_list.c + hashtab LRU paths, v6.16+ semantics.
class LH:
    __slots__=('next','prev','owner')
    def __init__(s,owner=None): s.next=s; s.prev=s; s.owner=owner
def ladd(n,h):  # list_add: after head
    n.next=h.next; n.prev=h; h.next.prev=n; h.next=n
def ldel(n):
    n.prev.next=n.next; n.next.prev=n.prev; n.next=n.prev=None
def lmove(n,h): ldel(n); ladd(n,h)
def empty(h): return h.next is h
def rev(h):  # list_for_each_entry_safe_reverse
    n=h.prev
    while n is not h:
        p=n.prev; yield n; n=p
def fwd(h):
    n=h.next
    while n is not h:
        nx=n.next; yield n; n=nx
ACTIVE,INACTIVE,FREE,LFREE,LPEND=0,1,2,3,4
class Node:
    def __init__(s,cpu=0):
        s.l=LH(s); s.type=FREE; s.ref=0; s.cpu=cpu; s.key=None
class LList:
    def __init__(s):
        s.lists=[LH(),LH(),LH()]; s.counts=[0,0]; s.nir=s.lists[INACTIVE]
class Loc:
    def __init__(s,cpu): s.free=LH(); s.pend=LH(); s.next_steal=cpu
class Map:
    def __init__(s,max_entries,ncpus,percpu_lru=False,target_free_fixed=None,percpu_value=False):
        s.ncpus=ncpus; s.percpu=percpu_lru; s.percpu_value=percpu_value
        if percpu_lru:
            m=-(-max_entries//ncpus)*ncpus; max_entries=m
        s.max=max_entries; s.h={}  # key->node (hash membership)
        s.order={}  # bucket order ignored
        if percpu_lru:
            s.pl=[LList() for _ in range(ncpus)]; s.nr_scans=4
            pc=max_entries//ncpus; i=0
            for c in range(ncpus):
                while True:
                    n=Node(c); ladd(n.l,s.pl[c].lists[FREE]); i+=1
                    if i==max_entries or i%pc==0: break
                if i==max_entries: break
        else:
            s.g=LList(); s.loc=[Loc(c) for c in range(ncpus)]; s.nr_scans=128
            for i in range(max_entries):
                n=Node(); ladd(n.l,s.g.lists[FREE])
            s.target_free = target_free_fixed if target_free_fixed else max(1,min(128,(max_entries//ncpus)//2))
        s.evicted=[]
    # ---- list primitives
    def cnt_inc(s,l,t):
        if t<2: l.counts[t]+=1
    def cnt_dec(s,l,t):
        if t<2: l.counts[t]-=1
    def move_to_free(s,l,n,fl,t):
        if l.nir is n.l: l.nir=l.nir.prev
        s.cnt_dec(l,n.type); n.type=t; lmove(n.l,fl)
    def move_in(s,l,n,t):
        s.cnt_inc(l,t); n.type=t; n.ref=0; lmove(n.l,l.lists[t])
    def move(s,l,n,t):
        if n.type!=t: s.cnt_dec(l,n.type); s.cnt_inc(l,t); n.type=t
        n.ref=0
        if l.nir is n.l: l.nir=l.nir.prev
        lmove(n.l,l.lists[t])
    def rotate_active(s,l):
        act=l.lists[ACTIVE]; first=act.next.owner; i=0
        for x in rev(act):
            n=x.owner
            s.move(l,n,ACTIVE if n.ref else INACTIVE)
            i+=1
            if i==s.nr_scans or n is first: break
    def rotate_inactive(s,l):
        ina=l.lists[INACTIVE]
        if empty(ina): return
        last=l.nir.next
        if last is ina: last=last.next
        cur=l.nir; i=0; nxt=ina
        while i<s.nr_scans:
            if cur is ina: cur=cur.prev; continue
            n=cur.owner; nxt=cur.prev
            if n.ref: s.move(l,n,ACTIVE)
            if cur is last: break
            cur=nxt; i+=1
        l.nir=nxt
    def rotate(s,l):
        if l.counts[INACTIVE]<l.counts[ACTIVE]: s.rotate_active(l)
        s.rotate_inactive(l)
    def del_from_htab(s,n):
        if s.h.get(n.key) is n:
            del s.h[n.key]; s.evicted.append(n.key); return True
        return False
    def shrink_inactive(s,l,tgt,fl,t):
        ina=l.lists[INACTIVE]; k=0; i=0
        for x in rev(ina):
            n=x.owner
            if n.ref: s.move(l,n,ACTIVE)
            elif s.del_from_htab(n):
                s.move_to_free(l,n,fl,t); k+=1
                if k==tgt: break
            i+=1
            if i==s.nr_scans: break
        return k
    def shrink(s,l,tgt,fl,t):
        k=s.shrink_inactive(l,tgt,fl,t)
        if k: return k
        fs=l.lists[INACTIVE] if not empty(l.lists[INACTIVE]) else l.lists[ACTIVE]
        for x in rev(fs):
            n=x.owner
            if s.del_from_htab(n): s.move_to_free(l,n,fl,t); return 1
        return 0
    def flush(s,l,loc):
        for x in rev(loc.pend):
            n=x.owner; s.move_in(l,n,ACTIVE if n.ref else INACTIVE)
    def pop_free_to_local(s,loc):
        l=s.g; s.flush(l,loc); s.rotate(l); nf=0
        for x in fwd(l.lists[FREE]):
            s.move_to_free(l,x.owner,loc.free,LFREE); nf+=1
            if nf==s.target_free: break
        if nf<s.target_free: s.shrink(l,s.target_free-nf,loc.free,LFREE)
    def add_pending(s,loc,cpu,n):
        n.cpu=cpu; n.type=LPEND; n.ref=0; ladd(n.l,loc.pend)
    def pop_pending(s,loc):
        for force in (False,True):
            for x in rev(loc.pend):
                n=x.owner
                if (not n.ref or force) and s.del_from_htab(n):
                    ldel(n.l); return n
        return None
    def common_pop(s,cpu):
        loc=s.loc[cpu]
        def pf(lc):
            if empty(lc.free): return None
            n=lc.free.next.owner; ldel(n.l); return n
        n=pf(loc)
        if n is None:
            s.pop_free_to_local(loc); n=pf(loc)
        if n: s.add_pending(loc,cpu,n); return n
        first=loc.next_steal; st=first
        while True:
            sl=s.loc[st]; n=pf(sl)
            if n is None: n=s.pop_pending(sl)
            st=(st+1)%s.ncpus
            if n or st==first: break
        loc.next_steal=st
        if n: s.add_pending(loc,cpu,n)
        return n
    def percpu_pop(s,cpu):
        l=s.pl[cpu]; s.rotate(l); fl=l.lists[FREE]
        if empty(fl): s.shrink(l,4,fl,FREE)
        if not empty(fl):
            n=fl.next.owner; n.ref=0; s.move(l,n,INACTIVE); return n
        return None
    def pop(s,cpu): return s.percpu_pop(cpu) if s.percpu else s.common_pop(cpu)
    def push_free(s,n):
        if s.percpu:
            s.move(s.pl[n.cpu],n,FREE); return
        if n.type==LPEND:
            n.type=LFREE; n.ref=0; lmove(n.l,s.loc[n.cpu].free); return
        s.move(s.g,n,FREE)
    # ---- hashtab ops
    def update(s,key,flags=0,cpu=0):
        if flags>2: return 'EINVAL'
        if s.percpu_value:
            nn=None
            if flags!=2:
                nn=s.pop(cpu)
                if nn is None: return 'ENOMEM'
            old=s.h.get(key)
            if old and flags==1: r='EEXIST'
            elif not old and flags==2: r='ENOENT'
            else: r=0
            if r==0:
                if old: old.ref=1
                else: nn.key=key; s.h[key]=nn; nn=None
            if nn: s.push_free(nn)
            return r
        nn=s.pop(cpu)
        if nn is None: return 'ENOMEM'
        nn.key=key
        old=s.h.get(key)
        if old and flags==1: r='EEXIST'
        elif not old and flags==2: r='ENOENT'
        else: r=0
        if r: s.push_free(nn); return r
        s.h[key]=nn
        if old: nn.ref=1; s.push_free(old)
        return 0
    def lookup_prog(s,key):
        n=s.h.get(key)
        if n: n.ref=1; return 0
        return 'ENOENT'
    def lookup_sys(s,key): return 0 if key in s.h else 'ENOENT'
    def delete(s,key):
        n=s.h.pop(key,None)
        if not n: return 'ENOENT'
        s.push_free(n); return 0
    def keys(s): return set(s.h)
