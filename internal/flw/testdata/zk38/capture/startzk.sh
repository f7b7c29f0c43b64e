#!/bin/sh
# usage: startzk.sh name  (uses /tmp/zkcap/$name/zoo.cfg)
d=/tmp/zkcap/$1
mkdir -p $d/logs
nohup java -Dzookeeper.log.dir=$d/logs $JVMFLAGS -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar" org.apache.zookeeper.server.quorum.QuorumPeerMain $d/zoo.cfg > $d/out.log 2>&1 &
echo $! > $d/pid
