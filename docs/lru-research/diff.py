import os, random, sys, errno
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
os.sched_setaffinity(0,{0})
from kbpf import KMap
from lru import Map
E={'EEXIST':-errno.EEXIST,'ENOENT':-errno.ENOENT,'EINVAL':-errno.EINVAL,'ENOMEM':-errno.ENOMEM,0:0}
NC=2
def run(seed,mtype,flags,maxe,nops,keyspace,weights):
    rnd=random.Random(seed)
    k=KMap(mtype,maxe,flags,NC)
    m=Map(maxe,NC,percpu_lru=bool(flags),percpu_value=(mtype==10))
    ops=['upd0','upd1','upd2','lsys','lprog','del','lad']
    for i in range(nops):
        op=rnd.choices(ops,weights)[0]; key=rnd.randrange(keyspace)
        if op.startswith('upd'):
            f=int(op[3]); a=k.update(key,f); b=E[m.update(key,f)]
        elif op=='lsys': a=k.lookup(key); b=E[m.lookup_sys(key)]
        elif op=='lprog': a=k.lookup_prog(key); b=E[m.lookup_prog(key)]
        elif op=='del': a=k.delete(key); b=E[m.delete(key)]
        else: a=k.lookup_and_delete(key); b=E[m.delete(key)]
        ks=set(k.keys()); ms=m.keys()
        if a!=b or ks!=ms:
            print('MISMATCH seed',seed,'type',mtype,'flags',flags,'max',maxe,'op#',i,op,key,'ret',a,b,'k-m',sorted(ks-ms)[:8],'m-k',sorted(ms-ks)[:8]); return False
    os.close(k.fd); return True
ok=0; bad=0
cfgs=[]
for mtype in (9,10):
    for flags in (0,2):
        for maxe in (1,2,3,4,5,8,13,16,33,64,100,257,300,600):
            cfgs.append((mtype,flags,maxe))
seed=int(sys.argv[1]) if len(sys.argv)>1 else 0
for j,(mtype,flags,maxe) in enumerate(cfgs):
    for w in ([6,2,2,1,3,2,1],[10,1,1,0,1,0,0],[4,2,2,1,6,1,1]):
        n= 400 if maxe<100 else 1500
        ks= maxe*2+3
        if run(seed*1000+j,mtype,flags,maxe,n,ks,w): ok+=1
        else: bad+=1
print('ok',ok,'bad',bad)
