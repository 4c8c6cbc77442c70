import os, sys; sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
from lru import Map
def mk(mt,flags,size,ncpu,tf=None):
    return Map(size,ncpu,percpu_lru=bool(flags),percpu_value=(mt=='LRU_PERCPU'),target_free_fixed=tf)
def s0(mt,fl,n,old=False):
    m=mk(mt,fl,2*n if fl else 2,n,128 if old else None); exp=set()
    assert m.update(1,1)==0; exp.add(1)
    assert m.update(1,1)=='EEXIST'
    assert m.lookup_sys(2)=='ENOENT'; assert m.update(2,2)=='ENOENT'; assert m.update(2,1)==0
    assert m.lookup_sys(3)=='ENOENT'; assert m.lookup_prog(1)==0
    assert m.update(3,1)==0; exp.add(3)
    assert m.lookup_sys(2)=='ENOENT', m.keys()
    assert m.delete(1)==0; exp.discard(1)
    assert m.keys()==exp,(m.keys(),exp)
def ms(t,n): return t*n*2
def s1(mt,fl,tgt,n,old=False):
    if fl: return
    b=tgt//2; size=(tgt if old else ms(tgt,n))+b
    m=mk(mt,fl,size,n,128 if old else None); exp=set()
    M=tgt if old else ms(tgt,n)
    for k in range(1,1+M): assert m.update(k,1)==0
    for k in range(1,1+b): assert m.lookup_prog(k)==0; exp.add(k)
    for k in range(1+M,1+2*M): assert m.update(k,1)==0; exp.add(k)
    assert m.keys()==exp,(sorted(m.keys()-exp)[:5],sorted(exp-m.keys())[:5])
def s2(mt,fl,tgt,n,old=False):
    if fl: return
    b=tgt//2; M=tgt if old else ms(tgt,n); size=M+b
    m=mk(mt,fl,size,n,128 if old else None); exp=set()
    for k in range(1,1+M): assert m.update(k,1)==0
    if mt=='LRU_PERCPU':
        assert m.update(1,1)==0; assert m.delete(1)==0
    else:
        assert m.update(1,2)!=0
    for k in range(1,1+b):
        assert m.lookup_sys(k)=='ENOENT',k; assert m.update(k,1)==0; assert m.lookup_prog(k)==0; exp.add(k)
    k=1+M; end=k+b
    while k<end: assert m.update(k,1)==0; k+=1
    end+=M
    while k<end: assert m.update(k,1)==0; exp.add(k); k+=1
    assert m.keys()==exp,(len(m.keys()),len(exp))
def s3(mt,fl,tgt,n,old=False):
    if fl: return
    b=tgt//2 if old else (tgt//n)//2
    size=tgt*2; m=mk(mt,fl,size,n,128 if old else None); exp=set()
    for k in range(1,1+size): assert m.update(k,1)==0
    end=(tgt+b) if old else (1+size-b)
    for k in range(1,end): assert m.lookup_prog(k)==0; exp.add(k)
    k=2*tgt+1
    for k in range(k,k+b): assert m.update(k,1)==0; exp.add(k)
    assert m.keys()==exp,(sorted(m.keys()^exp)[:10])
def s4(mt,fl,tgt,n,old=False):
    size=3*tgt*n if fl else (3*tgt if old else 3*ms(tgt,n))
    m=mk(mt,fl,size,n,128 if old else None); exp=set()
    for k in range(1,2*tgt+1): assert m.update(k,1)==0
    assert m.update(1,1)!=0
    for k in range(1,tgt+1): assert m.lookup_prog(k)==0; exp.add(k)
    k=tgt+1
    while k<=2*tgt: assert m.delete(k)==0; assert m.delete(k)!=0; k+=1
    end=k+2*tgt
    while k<end: assert m.update(k,1)==0; exp.add(k); k+=1
    assert m.keys()==exp
def s5(mt,fl,n,old=False):
    if fl: return
    m=mk(mt,fl,1,n,128 if old else None)
    key=0; assert m.update(0,1,cpu=0)==0
    for cpu in range(n):
        assert m.lookup_prog(key)==0
        assert m.update(key+1,1,cpu=cpu)==0; assert m.lookup_prog(key+1)==0
        assert m.lookup_sys(key)=='ENOENT'; key+=1
def s6(mt,fl,tgt,n,old=False):
    if not fl: return
    size=tgt*2; m=mk(mt,fl,size*n,n); exp=set()
    for k in range(1,tgt+1): assert m.update(k,1)==0; exp.add(k)
    k=tgt+1
    while k<=2*tgt:
        for sk in range(1,tgt+1): assert m.lookup_prog(sk)==0
        assert m.update(k,1)==0; k+=1
    while k<=3*tgt: assert m.update(k,1)==0; exp.add(k); k+=1
    assert m.keys()==exp,(sorted(m.keys()),sorted(exp))
def s7(mt,fl,n,old=False,swap=False):
    m=mk(mt,fl,2*n if fl else 2,n,128 if old else None)
    assert m.update(1,1)==0; assert m.update(1,1)=='EEXIST'
    assert m.update(2,2)=='ENOENT'; assert m.update(2,1)==0
    if not swap: m.lookup_prog(1); m.lookup_sys(2); exp={1,3}
    else: m.lookup_sys(1); m.lookup_prog(2); exp={2,3}
    assert m.update(3,1)==0
    assert m.keys()==exp,(m.keys())
for old in (False,True):
  for n in ((1,2,4,8,16) if not old else (1,2,4)):
    for fl in (0,1):
        tgt=4 if fl else 128
        for mt in ('LRU','LRU_PERCPU'):
            for name,f in (('s0',lambda:s0(mt,fl,n,old)),('s1',lambda:s1(mt,fl,tgt,n,old)),('s2',lambda:s2(mt,fl,tgt,n,old)),('s3',lambda:s3(mt,fl,tgt,n,old)),('s4',lambda:s4(mt,fl,tgt,n,old)),('s5',lambda:s5(mt,fl,n,old)),('s6',lambda:s6(mt,fl,tgt,n,old)),('s7',lambda:s7(mt,fl,n,old)),('s8',lambda:s7(mt,fl,n,old,True))):
                try: f(); r='ok'
                except AssertionError as e: r='FAIL %s'%(e,)
                if r!='ok': print('old' if old else 'new',n,fl,mt,name,r)
print('done')
