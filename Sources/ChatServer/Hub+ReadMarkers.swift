import ChatCluster
import ChatCore

extension Hub {
    /// `reader`'s position in `room` moved to `seq`: its connections on this node are told,
    /// but `except`, the one whose `read` it was (its answer says so already); with
    /// `announce`, the other nodes tell theirs.
    func tellReader(_ reader: String, room: String, seq: UInt64, except: ObjectIdentifier?, announce: Bool) {
        if announce { tellCluster(.read(node: "", room: room, reader: reader, seq: seq)) }
        let event = ServerEvent.reads(.read(room: room, seq: seq))
        for ref in shards {
            ref.loop.execute { ref.shard.value.tellReader(reader, event, except: except) }
        }
    }
}
