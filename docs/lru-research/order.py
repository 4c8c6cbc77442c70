import os,sys,struct; sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); os.sched_setaffinity(0,{0})
from kbpf import KMap, map_create
import kbpf
M=0xffffffff
def rol(x,k): return ((x<<k)|(x>>(32-k)))&M
def final(a,b,c):
    c^=b; c=(c-rol(b,14))&M; a^=c; a=(a-rol(c,11))&M; b^=a; b=(b-rol(a,25))&M
    c^=b; c=(c-rol(b,16))&M; a^=c; a=(a-rol(c,4))&M; b^=a; b=(b-rol(a,14))&M
    c^=b; c=(c-rol(b,24))&M; return c
def jhash2_u64(key,initval=0):
    k0=key&M; k1=key>>32
    a=b=c=(0xdeadbeef+(2<<2)+initval)&M
    b=(b+k1)&M; a=(a+k0)&M
    return final(a,b,c)
BPF_F_ZERO_SEED=64
for mtype in (9,10):
    km=KMap.__new__(KMap); km.fd=map_create(mtype,8,8,8,BPF_F_ZERO_SEED); assert km.fd>=0,km.fd
    import ctypes
    km.vs=16 if mtype==10 else 8; km.val=ctypes.create_string_buffer(km.vs); km.k=ctypes.c_uint64(); km.k2=ctypes.c_uint64()
    nb=8; ins=[]
    for k in (10,11,12,13,14,15):
        assert km.update(k,0)==0; ins.append(k)
    def predict(order_ins):
        out=[]
        for b in range(nb):
            out+= [k for k in reversed(order_ins) if jhash2_u64(k)&(nb-1)==b]
        return out
    print(mtype, km.keys()==predict(ins), km.keys())
    # update existing key 10 with BPF_ANY
    assert km.update(10,0)==0
    ins2=[k for k in ins if k!=10]+[10]
    print(' after ANY update of 10: moves-to-front model',km.keys()==predict(ins2),' in-place model',km.keys()==predict(ins))
print('--- collision test')
for mtype in (9,10):
    km=KMap.__new__(KMap); km.fd=map_create(mtype,8,8,8,BPF_F_ZERO_SEED)
    km.vs=16 if mtype==10 else 8; km.val=ctypes.create_string_buffer(km.vs); km.k=ctypes.c_uint64(); km.k2=ctypes.c_uint64()
    b0=[k for k in range(100) if jhash2_u64(k)&7==0][:3]
    for k in b0: km.update(k,0)
    print(mtype,'bucket0 keys inserted',b0,'order',km.keys())
    km.update(b0[0],0)
    print('  after ANY-update of',b0[0],'order',km.keys())
