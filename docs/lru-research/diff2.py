import sys; sys.argv=[sys.argv[0]]
exec(open(__import__('os').path.join(__import__('os').path.dirname(__import__('os').path.abspath(__file__)),'diff.py')).read().split("ok=0; bad=0")[0])
ok=bad=0
for j,(mtype,flags,maxe) in enumerate([(9,0,1000),(9,0,2000),(10,0,1000),(9,2,1000),(10,2,600),(9,0,520),(9,0,260)]):
    for w in ([6,2,2,1,8,1,1],[10,1,1,0,2,0,0]):
        if run(7000+j*7+w[0],mtype,flags,maxe,5000,maxe*2,w): ok+=1
        else: bad+=1
print('ok',ok,'bad',bad)
