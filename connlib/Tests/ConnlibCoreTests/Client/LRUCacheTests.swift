import ConnlibCore
import Testing

@Suite struct LRUCacheTests {
    @Test func aFullCacheEvictsTheLeastRecentlyUsedEntry() {
        var cache = LRUCache<Int, String>(capacity: 2)
        cache.insert("one", for: 1)
        cache.insert("two", for: 2)
        cache.insert("three", for: 3)
        #expect(cache.count == 2)
        #expect(!cache.contains(1))
        #expect(cache.keysByRecency == [3, 2])
    }

    @Test func aLookupMakesAnEntryTheMostRecentlyUsed() {
        var cache = LRUCache<Int, String>(capacity: 2)
        cache.insert("one", for: 1)
        cache.insert("two", for: 2)
        #expect(cache.value(for: 1) == "one")
        cache.insert("three", for: 3)
        #expect(cache.keysByRecency == [3, 1])
        #expect(cache.value(for: 2) == nil)
    }

    @Test func reinsertingAKeyReplacesItsValueWithoutGrowing() {
        var cache = LRUCache<Int, String>(capacity: 3)
        cache.insert("one", for: 1)
        cache.insert("two", for: 2)
        cache.insert("uno", for: 1)
        #expect(cache.count == 2)
        #expect(cache.keysByRecency == [1, 2])
        #expect(cache.value(for: 1) == "uno")
    }

    @Test func evictionKeepsTheOrderOfTheRestOverManyInsertions() {
        var cache = LRUCache<Int, Int>(capacity: 4)
        for key in 0..<100 {
            cache.insert(key, for: key)
            _ = cache.value(for: max(0, key - 2))
        }
        #expect(cache.count == 4)
        #expect(cache.keysByRecency == [97, 99, 96, 98])
    }
}
