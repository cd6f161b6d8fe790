#include "sip/txn/pointer_index.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

namespace catchline::sip::txn {
namespace {

struct Item {
  int key = 0;
};

// A deliberately poor hash, so that long probe runs, shared hashes and wrap-around all occur.
std::size_t weak_hash(int key) { return static_cast<std::size_t>(key % 37); }

TEST(PointerIndex, AgreesWithAMapThroughRandomInsertsAndErases) {
  PointerIndex<Item> index;
  std::map<int, std::unique_ptr<Item>> reference;
  std::mt19937 random(11);
  std::uniform_int_distribution<int> keys(0, 3000);
  for (int step = 0; step < 60'000; ++step) {
    const int key = keys(random);
    auto has_key = [&](const Item& item) { return item.key == key; };
    auto found = reference.find(key);
    if (random() % 3 != 0) {
      auto item = std::make_unique<Item>(Item{key});
      const bool inserted = index.insert(weak_hash(key), item.get(), has_key);
      ASSERT_EQ(inserted, found == reference.end()) << "key " << key;
      if (inserted) {
        reference.emplace(key, std::move(item));
      }
    } else {
      const Item* value = found == reference.end() ? nullptr : found->second.get();
      ASSERT_EQ(index.erase(weak_hash(key), value), value != nullptr) << "key " << key;
      if (value != nullptr) {
        reference.erase(found);
      }
    }
    ASSERT_EQ(index.size(), reference.size());
    if (step % 1000 == 0) {
      // Every key present is found, every absent one is not.
      for (int probe = 0; probe <= 3000; ++probe) {
        auto it = reference.find(probe);
        const Item* expected = it == reference.end() ? nullptr : it->second.get();
        ASSERT_EQ(index.find(weak_hash(probe), [&](const Item& i) { return i.key == probe; }),
                  expected)
            << "key " << probe << " at step " << step;
      }
    }
  }
  std::size_t visited = 0;
  index.for_each([&](const Item& item) {
    ++visited;
    EXPECT_EQ(reference.count(item.key), 1u);
  });
  EXPECT_EQ(visited, reference.size());
}

TEST(PointerIndex, ErasesByIdentityNotByKey) {
  PointerIndex<Item> index;
  Item a{1}, b{2};
  auto any = [](const Item&) { return false; };  // every key counts as new
  ASSERT_TRUE(index.insert(5, &a, any));
  ASSERT_TRUE(index.insert(5, &b, any));
  EXPECT_FALSE(index.erase(5, &a + 100));
  EXPECT_TRUE(index.erase(5, &a));
  EXPECT_FALSE(index.erase(5, &a));
  EXPECT_EQ(index.find(5, [](const Item& i) { return i.key == 2; }), &b);
  EXPECT_EQ(index.size(), 1u);
}

}  // namespace
}  // namespace catchline::sip::txn
